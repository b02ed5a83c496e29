"""The framework's own plugins, registered by every plugin manager.

``runtime_selection`` (checks that the runtime a request asks for exists, records each fallback and
stamps the declined runtimes onto the result), ``strict`` (fallback switched off), ``log`` (structlog
invocation and node logging), ``tracing`` (an OpenTelemetry span per hook call, when a host traces).
"""
