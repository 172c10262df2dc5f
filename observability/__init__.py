"""Request logs, health and readiness; later metrics, traces, evals and dashboards."""
