"""Task runners from params.yaml: the switch from one laptop to a cluster is configuration."""

from __future__ import annotations

from prefect.task_runners import ThreadPoolTaskRunner

from medmaas.settings import DaskClusterRunner, DaskLocalRunner, TaskRunnerSettings


def task_runner(settings: TaskRunnerSettings):
    if isinstance(settings, DaskLocalRunner):
        from prefect_dask import DaskTaskRunner

        # threads, not processes: a process worker would start its own temporary Prefect API
        kwargs = {
            "n_workers": settings.n_workers,
            "threads_per_worker": settings.threads_per_worker,
            "processes": False,
        }
        return DaskTaskRunner(cluster_kwargs=kwargs)
    if isinstance(settings, DaskClusterRunner):
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=settings.address)
    return ThreadPoolTaskRunner(max_workers=settings.max_workers)
