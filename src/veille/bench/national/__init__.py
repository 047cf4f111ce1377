"""`veille bench national`: 10,000 cameras as they really send, with images, into a full
store, while officers search (issue 11).

The modules:
- `contract`: the plan the orchestrator hands the load generator and the files the load
  generator writes back; the only thing the two share.
- `loadgen`: the load generator, run as its own process
  (`python -m veille.bench.national.loadgen PLAN.json OUT_DIR`).
- `prefill`: the cached 50 M-read store the run starts from.
- `run`: the orchestrator behind `veille bench national` (server, hotlists, investigators,
  operators, jobs, measurements, the exactly-once check, the report).
"""
