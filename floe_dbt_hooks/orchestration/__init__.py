"""What every orchestrator integration (Dagster, Airflow, Prefect) needs from a dbt project: its
graph with dbt's selection syntax evaluated on the manifest (:mod:`.graph`), and the manifest
itself from the selected runtime, reused while fresh (:mod:`.manifest`). Nothing here imports an
orchestrator or dbt."""
