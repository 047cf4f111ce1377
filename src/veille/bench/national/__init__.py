"""`veille bench national`: 10,000 cameras as they really send, with images, into a full
store, while officers search (issue 11).

The modules:
- `contract`: the plan the orchestrator hands the load generator and the files the load
  generator writes back; the only thing the two share.
- `loadgen`: the load generator, run as its own process
  (`python -m veille.bench.national.loadgen PLAN.json OUT_DIR`): the steps, the search,
  the worker processes, the files; its cameras in `loadgen_population`, their HTTP
  connection in `loadgen_http`, their JPEGs in `loadgen_images`, their traffic in
  `loadgen_traffic`; `loadgen_ceiling` measures the generator alone.
- `prefill`: the cached 50 M-read store the run starts from.
- `run`: the orchestrator behind `veille bench national` (server, hotlists, investigators,
  operators, jobs, measurements, the exactly-once check, the report).
"""
