-- Judicial districts derived from the cameras an authorization request reaches, and the
-- approval of each district (issue 9). `district` stays as the requester declared it.
-- `districts` is a JSON array; NULL marks a request filed before districts were derived.
ALTER TABLE authorizations ADD COLUMN districts TEXT;
ALTER TABLE authorizations ADD COLUMN approvals TEXT NOT NULL DEFAULT '[]';
-- A decided record stays single-district, as recorded: the district whose prosecutor
-- decided it (the old rule required the two to be equal). The query service opens such
-- an authorization only at that district's cameras, so an approval given in Liège for
-- Brussels cameras opens nothing. Pending records get their districts from their cameras
-- when a prosecutor takes them up.
UPDATE authorizations SET districts = json_array(district) WHERE status <> 'pending';
