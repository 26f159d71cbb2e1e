"""A job command whose --now is in the future asks before it writes (phoenix.core.jobs.JobCommand)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError
from django.utils import timezone

from phoenix.core.jobs import JobCommand, JobReport, StepsJobCommand

pytestmark = pytest.mark.django_db


class RecordingJob(StepsJobCommand):
    """A job that only remembers how it was run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.runs = []

    def run_job(self, *, now, dry_run):
        self.runs.append((now, dry_run))
        return JobReport(job="recording", now=now, dry_run=dry_run)


class Terminal(StringIO):
    """An interactive stdin with the operator's answer typed in."""

    def isatty(self):
        return True


def _iso(delta: timedelta) -> str:
    return (timezone.now() + delta).isoformat()


def _run(*args, **options):
    job = RecordingJob()
    call_command(job, *args, stdout=StringIO(), **options)
    return job.runs


def test_a_future_now_off_a_terminal_is_refused_naming_yes():
    job = RecordingJob()
    with pytest.raises(CommandError, match="--yes") as refused:
        call_command(job, "--now", _iso(timedelta(days=2, hours=3)), stdout=StringIO(), stdin=StringIO())
    assert "in the future" in str(refused.value) and "2 d 3 h" in str(refused.value)
    assert job.runs == []  # nothing ran


def test_a_future_now_runs_with_yes():
    [(now, dry_run)] = _run("--now", _iso(timedelta(hours=5)), "--yes", stdin=StringIO())
    assert now > timezone.now() + timedelta(hours=4) and dry_run is False


def test_a_future_now_runs_with_dry_run_without_asking():
    [(_now, dry_run)] = _run("--now", _iso(timedelta(days=30)), "--dry-run", stdin=StringIO())
    assert dry_run is True


@pytest.mark.parametrize("delta", [timedelta(days=-3), timedelta(seconds=-1), timedelta(seconds=30)])
def test_a_past_or_present_now_runs(delta):
    assert len(_run("--now", _iso(delta), stdin=StringIO())) == 1


def test_no_now_runs():
    assert len(_run(stdin=StringIO())) == 1


@pytest.mark.parametrize("answer, runs", [("y\n", 1), ("yes\n", 1), ("n\n", 0), ("\n", 0), ("", 0)])
def test_on_a_terminal_the_operator_is_asked(answer, runs):
    job, prompt = RecordingJob(), StringIO()
    command = lambda: call_command(job, "--now", _iso(timedelta(hours=2)), stdout=StringIO(),  # noqa: E731
                                   stderr=prompt, stdin=Terminal(answer))
    if runs:
        command()
    else:
        with pytest.raises(CommandError, match="Not confirmed"):
            command()
    assert prompt.getvalue().startswith("--now is 2 h in the future; this writes as if it were ")
    assert prompt.getvalue().endswith("Continue? [y/N] ")
    assert len(job.runs) == runs


def test_a_real_job_command_is_refused_then_runs_with_yes():
    future = _iso(timedelta(days=1))
    with pytest.raises(CommandError, match="--yes"):
        call_command("webhook_dispatch", "--now", future, stdout=StringIO(), stdin=StringIO())
    out = StringIO()
    call_command("webhook_dispatch", "--now", future, "--yes", stdout=out, stdin=StringIO())
    assert "queued 0 delivery(ies)" in out.getvalue()


def test_every_command_taking_now_is_a_job_command():
    """So each one asks: a command with its own --now would not."""
    with_now = {}
    for name, app in get_commands().items():
        if not app.startswith(("phoenix", "wallet", "subscriptions", "licenses", "billing", "bench")):
            continue
        command = load_command_class(app, name)
        parser = command.create_parser("manage.py", name)
        if "--now" in parser._option_string_actions:
            with_now[name] = isinstance(command, JobCommand)
    assert {"wallet_expire_holds", "wallet_health", "expire_access", "webhook_dispatch"} <= set(with_now)
    assert all(with_now.values()), [name for name, ok in with_now.items() if not ok]
