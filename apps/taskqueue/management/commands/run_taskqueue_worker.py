import signal

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run task-queue workers in their own process (beside the Trio runtime's). They run "
        "tasks for this node only; tasks for other peers need the runtime's libp2p host."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument("--queue", action="append", dest="queues", help="repeatable")
        parser.add_argument("--name", default="standalone", help="worker id prefix")

    def handle(self, *args, concurrency: int, queues: list[str] | None, name: str, **options):
        import trio

        from apps.taskqueue.workers import WorkerConfig, WorkerPool, execute_locally, run_pool

        pool = WorkerPool(
            WorkerConfig(
                prefix=name,
                kind="standalone",
                concurrency=concurrency,
                queues=tuple(queues or ["default"]),
                remote=False,
            ),
            execute_locally,
        )

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_pool, pool)
                with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        nursery.cancel_scope.cancel()
                        break

        self.stdout.write(f"task-queue worker {pool.worker_id(0)} on {pool.config.queues}")
        self.stdout.flush()
        trio.run(main)
