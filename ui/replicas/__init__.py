"""`make run REPLICAS=N`: N Streamlit processes behind Caddy, sharing one Dask scheduler and one Dask worker.

    python -m ui.replicas --replicas 2 --port 8501 [--address 127.0.0.1]

`launcher` starts and supervises the processes, `proxy` writes Caddy's configuration, `processes` runs
one child process (its output, its process group, its stop).

One web process runs every script under one GIL, so a class larger than ~30 students needs more of
them (issue 17). This launcher starts, all on this machine:

- a Dask **scheduler** (`dask scheduler`, on 127.0.0.1, no dashboard): every replica submits training
  runs and other heavy tasks to it, so any replica can follow any run by its `?run=` link;
- one Dask **worker** process (`dask worker --no-nanny --preload explorer.training.jobs`; the launcher starts it
  again if it dies), which runs every task: `train` units = the CPU cores (`CNN_EXPLORER_MAX_RUNS`
  overrides), threads = units + cores, as the embedded cluster has. Not a worker inside each web
  process: measured by `bench/replica_workers.py` (README, "More students than one process"), both run
  a first task as fast as later ones, and memory is about even at two replicas (one process of
  0.4-0.7 GB against 0.25-0.35 GB in each replica); but with one worker process a replica's crash never
  takes other replicas' runs (or their trained models) with it, training never holds a web process's
  GIL, and the machine's cores are divided among runs once, not once per replica;
- N **web replicas** (`python -m ui.server` on free ports of 127.0.0.1, each warmed as `make run` warms
  its process, with `CNN_EXPLORER_DASK_SCHEDULER` set to the scheduler);
- **Caddy** on PORT, the only port students open: `lb_policy cookie` keeps each browser on one
  replica (its websocket, `/media` files and uploads must reach the process that holds its session),
  and a browser without the cookie goes to the replica with the fewest open requests (open websockets,
  mostly). A cookie, not the client's address: a class behind one school network shares one address.
  Caddy's admin endpoint is off, HTTPS off (put a TLS proxy in front for the internet); its health
  checks move the students of a dead replica to the others, where their browsers reconnect.

Supervision: SIGTERM, SIGINT or SIGHUP stops every child (SIGTERM, then SIGKILL after `STOP_TIMEOUT_S`), Caddy
first. If the scheduler or Caddy dies, everything stops and the launcher exits with status 1: without
them no replica can serve. A web replica or the worker that dies is started again (at once if it had
run for a minute, else after a growing delay), because the other replicas keep serving their students
meanwhile: stopping the whole class for one crashed process is what replicas are meant to avoid.
Each child runs in its own process group, which is killed when the child dies (no orphaned helper
processes), and gets SIGTERM if the launcher itself is killed (`setpriv --pdeathsig`, where available).
"""
