from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "phoenix.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from phoenix.core import checks  # noqa: F401 (registers the deploy checks)
        from phoenix.core.dashboard import DashboardPanel, register_dashboard_panel
        from phoenix.core.roles import sync_roles_after_migrate
        from phoenix.core.selectors import health_report

        register_dashboard_panel(DashboardPanel(
            key="platform", title="Platform", template="admin/dashboard/platform.html",
            build=lambda now: health_report(), order=0,
        ))
        # The customer page: core's section (operator actions); the apps add theirs.
        from phoenix.core import customer_sections

        customer_sections.register()

        # Roles cover models added after their migration ran (phoenix/core/roles.py).
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="core.sync_roles")

        # Observability: job-run metrics from every Celery task run (web, worker, eager),
        # traces when OTEL_TRACES_EXPORTER names an exporter, request id = trace id.
        from celery.signals import task_postrun, task_prerun, worker_process_shutdown
        from django_structlog.signals import bind_extra_request_metadata

        from phoenix.core import metrics, tracing

        task_prerun.connect(metrics.on_task_prerun, dispatch_uid="core.metrics.task_prerun")
        task_postrun.connect(metrics.on_task_postrun, dispatch_uid="core.metrics.task_postrun")
        worker_process_shutdown.connect(metrics.on_worker_process_shutdown,
                                        dispatch_uid="core.metrics.worker_process_shutdown")
        bind_extra_request_metadata.connect(tracing.bind_trace_id_as_request_id,
                                            dispatch_uid="core.tracing.request_id")
        tracing.tracing_configure()
