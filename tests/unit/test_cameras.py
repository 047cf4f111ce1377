"""Camera records: validation, CSV and GeoJSON import decoding, and export round trips."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veille.adapters.camera_import import (
    CSV_COLUMNS,
    ImportFormatError,
    decode_csv,
    decode_geojson,
    decode_records,
    encode_csv,
    encode_geojson,
)
from veille.domain.cameras import CAMERA_ID, Camera, CameraInvalid, Phase, camera_from_record
from veille.domain.geography import PROVINCES

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HEADER = ",".join(CSV_COLUMNS)


def record(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "camera_id": "BXL-LOI-01",
        "name": "Rue de la Loi",
        "lat": 50.846,
        "lon": 4.367,
        "heading": 90,
        "zone": "Bruxelles-Capitale/Ixelles",
        "province": "Bruxelles-Capitale",
        "vendor": "Hikvision",
        "protocol": "veille-json",
        "phase": "live",
    }
    base.update(overrides)
    return base


def invalid(rec: dict[str, Any]) -> CameraInvalid:
    with pytest.raises(CameraInvalid) as caught:
        camera_from_record(rec, now=NOW)
    return caught.value


def camera_record(camera: Camera) -> dict[str, Any]:
    return {k: getattr(camera, k) for k in CSV_COLUMNS if k != "phase"} | {
        "phase": camera.phase.value
    }


# --- camera_from_record -----------------------------------------------------------------


def test_valid_record_builds_a_camera():
    camera = camera_from_record(record(), now=NOW)
    assert camera == Camera(
        camera_id="BXL-LOI-01",
        name="Rue de la Loi",
        lat=50.846,
        lon=4.367,
        heading=90.0,
        zone="Bruxelles-Capitale/Ixelles",
        province="Bruxelles-Capitale",
        vendor="Hikvision",
        protocol="veille-json",
        phase=Phase.LIVE,
        created_at=NOW,
        retired_at=None,
    )
    assert camera.may_post


def test_csv_style_strings_are_accepted():
    camera = camera_from_record(
        record(lat=" 50.846 ", lon="4.367", heading="", phase=" Testing "), now=NOW
    )
    assert (camera.lat, camera.lon, camera.heading, camera.phase) == (
        50.846,
        4.367,
        None,
        Phase.TESTING,
    )


def test_defaults_for_optional_fields():
    rec = record()
    for key in ("name", "heading", "vendor", "protocol", "phase"):
        del rec[key]
    camera = camera_from_record(rec, now=NOW)
    assert camera.name == "BXL-LOI-01"
    assert camera.heading is None
    assert camera.vendor == "unknown"
    assert camera.protocol == "veille-json"
    assert camera.phase is Phase.PLANNED
    assert not camera.may_post


@pytest.mark.parametrize(
    "camera_id", ["", "   ", "-starts-with-dash", ".hidden", "with space", "a" * 65, "café", "a/b"]
)
def test_camera_id_pattern(camera_id: str):
    error = invalid(record(camera_id=camera_id))
    assert error.field == "camera_id"
    assert "1–64" in error.reason


def test_blank_vendor_and_protocol_take_the_defaults():
    camera = camera_from_record(record(vendor="  ", protocol="\r"), now=NOW)
    assert (camera.vendor, camera.protocol) == ("unknown", "veille-json")


@pytest.mark.parametrize("protocol", ["hikvision-isapi", "VEILLE-JSON", "x" * 200])
def test_a_protocol_without_a_decoder_is_refused(protocol: str):
    """Its reads could never be decoded: the camera would post into the void."""
    error = invalid(record(protocol=protocol))
    assert error.field == "protocol"
    assert error.reason == (f"unknown protocol {protocol[:64]!r}: must be one of veille-json")


def test_a_protocol_the_server_decodes_is_accepted():
    rec = record(protocol=" hikvision-isapi ")
    camera = camera_from_record(rec, now=NOW, protocols={"veille-json", "hikvision-isapi"})
    assert camera.protocol == "hikvision-isapi"
    assert invalid(rec).field == "protocol"  # by default only the native protocol


@pytest.mark.parametrize("camera_id", ["a" * 64, "A.b_c-1", "7", "BXL-LOI-01"])
def test_camera_id_pattern_accepts(camera_id: str):
    assert camera_from_record(record(camera_id=camera_id), now=NOW).camera_id == camera_id


def test_id_is_used_when_camera_id_is_absent():
    rec = record()
    del rec["camera_id"]
    assert camera_from_record(rec | {"id": 42}, now=NOW).camera_id == "42"


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (48.857, 2.352),  # Paris
        (52.370, 4.895),  # Amsterdam
        (50.110, 8.682),  # Frankfurt
        (4.367, 50.846),  # Brussels with lat and lon swapped
        (0.0, 0.0),
    ],
)
def test_position_outside_belgium(lat: float, lon: float):
    error = invalid(record(lat=lat, lon=lon))
    assert error.field == "lat/lon"
    assert "outside Belgium" in error.reason


@pytest.mark.parametrize(("lat", "lon"), [(91, 4.3), (50.8, 181), (-91, 0), (float("nan"), 4.3)])
def test_position_outside_the_globe(lat: float, lon: float):
    error = invalid(record(lat=lat, lon=lon))
    assert (error.field, error.reason) == ("lat/lon", "outside the globe")


@pytest.mark.parametrize(
    ("name", "value"), [("lat", "north"), ("lat", None), ("lon", True), ("lon", [4.3])]
)
def test_coordinate_that_is_not_a_number(name: str, value: Any):
    error = invalid(record(**{name: value}))
    assert error.field == name
    assert "must be a number" in error.reason


@pytest.mark.parametrize("lat,lon", [(49.5, 2.55), (51.5, 6.4), (50.467, 4.872)])
def test_positions_in_belgium_are_accepted(lat: float, lon: float):
    assert camera_from_record(record(lat=lat, lon=lon), now=NOW).lat == lat


@pytest.mark.parametrize("heading", [-0.1, 360, 360.5, 720, float("nan")])
def test_heading_out_of_range(heading: float):
    error = invalid(record(heading=heading))
    assert error.field == "heading"
    assert "0 to less than 360" in error.reason


def test_heading_not_a_number():
    error = invalid(record(heading="east"))
    assert error.field == "heading"
    assert "must be a number" in error.reason


@pytest.mark.parametrize("heading", [0, 359.9, "180"])
def test_heading_in_range(heading: Any):
    assert camera_from_record(record(heading=heading), now=NOW).heading == float(heading)


@pytest.mark.parametrize("zone", [None, "", "   "])
def test_missing_zone(zone: Any):
    error = invalid(record(zone=zone))
    assert error.field == "zone"
    assert "required" in error.reason


@pytest.mark.parametrize("province", ["", "Brabant", "Bruxelles", "Flandre", None])
def test_unknown_province(province: Any):
    error = invalid(record(province=province))
    assert error.field == "province"
    assert "Antwerpen" in error.reason


@pytest.mark.parametrize("province", PROVINCES)
def test_every_known_province_is_accepted(province: str):
    assert camera_from_record(record(province=province), now=NOW).province == province


@pytest.mark.parametrize("phase", list(Phase))
def test_every_phase_is_accepted(phase: Phase):
    camera = camera_from_record(record(phase=phase.value.upper()), now=NOW)
    assert camera.phase is phase
    assert camera.may_post == (phase in (Phase.TESTING, Phase.LIVE))
    assert camera.retired_at == (NOW if phase is Phase.RETIRED else None)


@pytest.mark.parametrize("phase", ["active", "online", "retire"])
def test_unknown_phase(phase: str):
    error = invalid(record(phase=phase))
    assert error.field == "phase"
    assert "planned" in error.reason


# --- decode_csv -------------------------------------------------------------------------


def csv_row(**overrides: Any) -> str:
    rec = record(**overrides)
    return ",".join(str(rec[c]) for c in CSV_COLUMNS)


def test_csv_rows_are_decoded_with_line_numbers():
    text = "\n".join([HEADER, csv_row(), csv_row(camera_id="BXL-LOI-02")]) + "\n"
    rows = decode_csv(text)
    assert [where for where, _ in rows] == ["line 2", "line 3"]
    assert rows[0][1] == {c: str(record()[c]) for c in CSV_COLUMNS}
    assert rows[1][1]["camera_id"] == "BXL-LOI-02"


def test_csv_byte_order_mark_is_ignored():
    rows = decode_csv("\ufeff" + HEADER + "\r\n" + csv_row() + "\r\n")
    assert rows[0][1]["camera_id"] == "BXL-LOI-01"
    assert "\ufeffcamera_id" not in rows[0][1]


def test_csv_with_only_required_columns():
    rows = decode_csv("camera_id,lat,lon,zone,province\nA1,50.8,4.3,Midi,Bruxelles-Capitale\n")
    assert rows == [
        (
            "line 2",
            {
                "camera_id": "A1",
                "lat": "50.8",
                "lon": "4.3",
                "zone": "Midi",
                "province": "Bruxelles-Capitale",
            },
        )
    ]


def test_csv_missing_columns_reported_at_line_1():
    with pytest.raises(ImportFormatError) as caught:
        decode_csv("camera_id,name,lat\nA1,x,50.8\n")
    assert caught.value.where == "line 1"
    assert caught.value.reason == "missing column(s): lon, province, zone"


def test_empty_csv_reports_missing_columns():
    with pytest.raises(ImportFormatError) as caught:
        decode_csv("")
    assert caught.value.where == "line 1"
    assert "missing" in caught.value.reason


def test_csv_unknown_columns_reported_at_line_1():
    with pytest.raises(ImportFormatError) as caught:
        decode_csv(HEADER + ",speed_limit,owner\n" + csv_row() + ",50,x\n")
    assert caught.value.where == "line 1"
    assert caught.value.reason == "unknown column(s): owner, speed_limit"


def test_csv_extra_cells_reported_at_their_line():
    text = "\n".join([HEADER, csv_row(), csv_row(camera_id="B2") + ",surplus", csv_row()])
    with pytest.raises(ImportFormatError) as caught:
        decode_csv(text)
    assert caught.value.where == "line 3"
    assert "more cells than columns" in caught.value.reason


def test_csv_blank_lines_are_skipped_and_line_numbers_stay_true():
    text = "\n".join(
        [
            HEADER,  # line 1
            csv_row(camera_id="A1"),  # line 2
            "",  # line 3
            ",,,,,,,,,",  # line 4: only empty cells
            "  ,  ,,,,,,,,",  # line 5: only blanks
            csv_row(camera_id="A6"),  # line 6
        ]
    )
    rows = decode_csv(text)
    assert [(where, rec["camera_id"]) for where, rec in rows] == [
        ("line 2", "A1"),
        ("line 6", "A6"),
    ]


def test_csv_cells_are_trimmed_and_short_rows_padded():
    rows = decode_csv("camera_id,lat,lon,zone,province,name\n A1 , 50.8 ,4.3,Midi,Namur\n")
    assert rows[0][1]["camera_id"] == "A1"
    assert rows[0][1]["lat"] == "50.8"
    assert rows[0][1]["name"] == ""


def test_csv_quoted_cells_keep_commas():
    text = HEADER + "\n" + csv_row(name='"Loi, sortie 3"')
    rows = decode_csv(text)
    assert rows[0][1]["name"] == "Loi, sortie 3"


def test_csv_line_number_of_a_record_spanning_lines_is_where_it_starts():
    text = HEADER + "\n" + csv_row(name='"Loi\nsortie 3"') + "\n"
    rows = decode_csv(text)
    assert rows[0][0] == "line 2"


# --- decode_geojson ---------------------------------------------------------------------


def feature(lon: float = 4.367, lat: float = 50.846, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


def collection(*features: Any) -> str:
    return orjson.dumps({"type": "FeatureCollection", "features": list(features)}).decode()


def geojson_error(text: str) -> ImportFormatError:
    with pytest.raises(ImportFormatError) as caught:
        decode_geojson(text)
    return caught.value


def test_geojson_point_is_lon_lat():
    rows = decode_geojson(collection(feature(4.367, 50.846, camera_id="A1", zone="Midi")))
    assert rows == [("feature 1", {"camera_id": "A1", "zone": "Midi", "lon": 4.367, "lat": 50.846})]
    camera = camera_from_record(rows[0][1] | {"province": "Bruxelles-Capitale"}, now=NOW)
    assert (camera.lat, camera.lon) == (50.846, 4.367)


def test_geojson_feature_id_is_the_camera_id():
    with_id = feature(zone="Midi") | {"id": "BXL-7"}
    rows = decode_geojson(collection(with_id))
    assert rows[0][1]["camera_id"] == "BXL-7"


def test_geojson_properties_camera_id_wins_over_feature_id():
    with_both = feature(camera_id="FROM-PROPS") | {"id": "FROM-ID"}
    assert decode_geojson(collection(with_both))[0][1]["camera_id"] == "FROM-PROPS"


def test_geojson_features_are_numbered_from_1():
    rows = decode_geojson(collection(feature(camera_id="A"), feature(camera_id="B")))
    assert [where for where, _ in rows] == ["feature 1", "feature 2"]


def test_geojson_feature_without_properties():
    rows = decode_geojson(
        collection({"type": "Feature", "id": 3, "geometry": feature()["geometry"]})
    )
    assert rows[0][1] == {"camera_id": 3, "lon": 4.367, "lat": 50.846}


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "Feature", "geometry": null}',
        "[]",
        '{"features": []}',
        '{"type": "GeometryCollection", "geometries": []}',
    ],
)
def test_geojson_not_a_feature_collection(text: str):
    error = geojson_error(text)
    assert error.where == "document"
    assert "FeatureCollection" in error.reason


def test_geojson_not_json():
    error = geojson_error("{not json")
    assert error.where == "document"
    assert "not valid JSON" in error.reason


def test_geojson_features_not_a_list():
    error = geojson_error('{"type": "FeatureCollection", "features": {}}')
    assert (error.where, error.reason) == ("document", "features must be a list")


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "LineString", "coordinates": [[4.3, 50.8], [4.4, 50.9]]},
        {"type": "Polygon", "coordinates": [[[4.3, 50.8], [4.4, 50.9], [4.3, 50.9], [4.3, 50.8]]]},
        {"type": "Point", "coordinates": [4.3]},
        {"type": "Point"},
        None,
    ],
)
def test_geojson_non_point_geometry_reported_at_its_feature(geometry: Any):
    bad = {"type": "Feature", "geometry": geometry, "properties": {}}
    error = geojson_error(collection(feature(camera_id="A"), bad))
    assert error.where == "feature 2"
    assert "Point" in error.reason


def test_geojson_item_that_is_not_a_feature():
    error = geojson_error(collection(feature(), {"type": "Point", "coordinates": [4.3, 50.8]}))
    assert error.where == "feature 2"
    assert "Feature" in error.reason


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "Feature", "geometry": "Point"},
        {"type": "Feature", "geometry": [4.3, 50.8]},
        {"type": "Feature", "geometry": feature()["geometry"], "properties": "xy"},
        {"type": "Feature", "geometry": feature()["geometry"], "properties": ["ab"]},
    ],
)
def test_geojson_feature_with_non_object_members_is_a_format_error(bad: dict[str, Any]):
    error = geojson_error(collection(bad))
    assert error.where == "feature 1"


def test_decode_records_numbers_records_and_refuses_non_objects():
    assert decode_records([{"a": 1}, {"b": 2}]) == [("record 1", {"a": 1}), ("record 2", {"b": 2})]
    with pytest.raises(ImportFormatError) as caught:
        decode_records([{"a": 1}, ["not", "an", "object"]])
    assert caught.value.where == "record 2"


# --- round trips ------------------------------------------------------------------------

camera_ids = st.from_regex(CAMERA_ID, fullmatch=True)
free_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
vendor_text = free_text
cameras = st.builds(
    lambda cid, name, lat, lon, heading, zone, province, vendor, protocol, phase: (
        camera_from_record(
            {
                "camera_id": cid,
                "name": name,
                "lat": lat,
                "lon": lon,
                "heading": heading,
                "zone": zone,
                "province": province,
                "vendor": vendor,
                "protocol": protocol,
                "phase": phase,
            },
            now=NOW,
        )
    ),
    camera_ids,
    free_text,
    st.floats(min_value=49.5, max_value=51.5),
    st.floats(min_value=2.5, max_value=6.4),
    st.none() | st.floats(min_value=0, max_value=359.9),
    free_text.filter(lambda z: z.strip() != ""),
    st.sampled_from(PROVINCES),
    vendor_text,
    st.sampled_from(["veille-json", "", " \t"]),  # the protocols a server decodes, or blank
    st.sampled_from([p.value for p in Phase]),
)


def unique_ids(cams: list[Camera]) -> bool:
    return len({c.camera_id for c in cams}) == len(cams)


@settings(max_examples=60, deadline=None)
@given(st.lists(cameras, max_size=5).filter(unique_ids))
def test_csv_round_trip(cams: list[Camera]):
    rows = decode_csv(encode_csv([camera_record(c) for c in cams]))
    assert [camera_from_record(rec, now=NOW) for _, rec in rows] == cams


@settings(max_examples=60, deadline=None)
@given(st.lists(cameras, max_size=5).filter(unique_ids))
def test_geojson_round_trip(cams: list[Camera]):
    rows = decode_geojson(encode_geojson([camera_record(c) for c in cams]))
    assert [where for where, _ in rows] == [f"feature {i}" for i in range(1, len(cams) + 1)]
    assert [camera_from_record(rec, now=NOW) for _, rec in rows] == cams


def test_csv_export_has_the_documented_header_and_empty_cells_for_none():
    text = encode_csv([record(heading=None)])
    lines = text.splitlines()
    assert lines[0] == HEADER
    assert ",90," not in lines[1]
    assert decode_csv(text)[0][1]["heading"] == ""


def test_geojson_export_is_lon_lat_with_the_id():
    doc = orjson.loads(encode_geojson([record()]))
    assert doc["type"] == "FeatureCollection"
    (feat,) = doc["features"]
    assert feat["id"] == "BXL-LOI-01"
    assert feat["geometry"] == {"type": "Point", "coordinates": [4.367, 50.846]}
    assert "lat" not in feat["properties"]
