"""What every runtime plugin shares, so that a runtime adds no parsing or result code of its own.

``events`` (dbt's event envelope -> RuntimeEvent, the one parser), ``results`` (run_results and
node results -> the framework's results, redacted: the one builder), ``selection`` (is this request
addressed to me), ``process`` (an engine subprocess that can always be stopped), ``flags`` (dbt's CLI
flags for a request), ``locks`` (one writer per database file).
"""
