"""Train an LLM chief of staff on Ghostexec with TRL's GRPOTrainer(environment_factory=...).

The environment runs as a server (`python3 dev.py serve`); each rollout gets its own
`GhostexecToolEnv`, which talks to it over OpenEnv's WebSocket through `GhostexecEnv`. TRL exposes
every public method of the class except `reset` as a function-calling tool (one per Ghostexec
action, with the docstrings below as tool descriptions), runs the multi-turn loop, and scores each
rollout with the reward functions at the bottom.

On a GPU machine (TRL, transformers and a model are not dependencies of this project):

    python3 dev.py serve --port 8000 --max-sessions 256 &
    .venv/bin/pip install "trl[vllm]" datasets            # pulls in torch and transformers
    .venv/bin/python examples/trl_grpo.py --model Qwen/Qwen3-1.7B --env-url http://127.0.0.1:8000 \\
        --max-steps 200 --num-generations 8 --use-vllm

The wrapper class needs nothing beyond this project: `trl` is imported only inside `main()`, so
tests (tests/test_trl_example.py) drive `GhostexecToolEnv` through whole episodes against a real
server with a scripted policy; only the model's generation is absent there.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from openenv_server.client import GhostexecEnv

# TRL builds environments with no arguments, so the server address is module-level configuration.
ENV_URL = os.environ.get("GHOSTEXEC_URL", "http://127.0.0.1:8000")
ENV_TOKEN = os.environ.get("GHOSTEXEC_TOKEN") or None
# Tool results carry what changed, not the whole ~9k-character briefing (TRL's max_completion_length
# counts tool results too); set GHOSTEXEC_FULL_BRIEFING=1 to send the full briefing after every step.
FULL_BRIEFING = os.environ.get("GHOSTEXEC_FULL_BRIEFING", "") not in ("", "0")

SYSTEM_PROMPT = (
    "You are the chief of staff of a busy executive. Read the briefing, then act one tool call at a time: "
    "answer critical mail from VIPs first (meet what they ask, in their tone, no confidential terms to outsiders), "
    "clear double-bookings by rescheduling the less important meeting, do or delegate urgent tasks, "
    "and apologise to people your changes upset. Every call costs one step of simulated time; keep going "
    "until the day is over."
)


def _since_last_step(briefing: str) -> str:
    """The briefing's 'SINCE LAST STEP' section: the action's result and everything that changed."""
    lines = briefing.splitlines()
    try:
        start = lines.index("SINCE LAST STEP") + 1
    except ValueError:
        return briefing
    out = []
    for line in lines[start:]:
        if not line.strip():
            break
        out.append(line)
    return "\n".join(out)


class GhostexecToolEnv:
    """One Ghostexec episode per rollout, for GRPOTrainer(environment_factory=GhostexecToolEnv).

    After an episode: `reward` is the grade in (0.01, 0.99) once the day is over (the grade so far
    if the model stopped early), `total_return` the sum of the dense step rewards, `done` whether
    the step budget was used up.
    """

    def __init__(self) -> None:
        self._client: Any = None
        self.reward = 0.0
        self.total_return = 0.0
        self.done = False
        self.grade: dict[str, Any] | None = None
        self.steps = 0

    # --- episode ------------------------------------------------------------------------------
    def reset(self, **kwargs: Any) -> str:
        """Start a workday. Dataset columns arrive as keyword arguments: `task_id` and `seed`."""
        if self._client is None:
            self._client = GhostexecEnv(base_url=ENV_URL, token=ENV_TOKEN).sync()
            self._client.connect()
        task_id = kwargs.get("task_id") or "phase2_core"
        seed = int(kwargs.get("seed") or 0)
        result = self._client.reset(task_id=task_id, seed=seed)
        self.reward, self.total_return, self.done, self.grade, self.steps = 0.0, 0.0, False, None, 0
        return result.observation.briefing

    def _close(self) -> None:
        """Close the connection (private: TRL would expose any public method as a tool)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _act(self, action: dict[str, Any]) -> str:
        if self.done:
            raise ValueError("The workday is over; no more actions are possible.")
        if self._client is None:
            raise ValueError("No episode is running (reset was not called).")
        try:
            result = self._client.step({k: v for k, v in action.items() if v is not None})
        except Exception as exc:  # a malformed call: refused, no time passed; tell the model why
            raise ValueError(f"Not a valid {action['action_type']} call: {exc}") from None
        obs = result.observation
        self.steps = obs.step
        self.total_return += float(result.reward or 0.0)
        self.done = bool(result.done)
        if self.done:
            self.grade = obs.grade
            self.reward = float((obs.grade or {}).get("score", 0.0))
        else:
            self.reward = float((self._client.state().grade or {}).get("score", 0.0))
        status = "OK" if obs.step_ok else f"INVALID: {obs.error}"
        head = f"{status} (step {obs.step}, {obs.time[11:16]}, {obs.steps_remaining} steps left, stress {obs.stress}/100)"
        if self.done:
            head += f"\nThe workday is over. Final grade {self.reward:.3f}."
        return head + "\n" + (obs.briefing if FULL_BRIEFING else _since_last_step(obs.briefing))

    # --- tools: one per Ghostexec action ----------------------------------------------------------
    def reply_email(self, email_id: str, body: str) -> str:
        """
        Reply to an email in the inbox (one reply per email). Meet what the sender asked for (propose a time,
        confirm, decline, apologise, mention what they raised), match their tone, and never put confidential
        terms in a reply to someone outside the company.

        Args:
            email_id: Id of the email to answer, as shown in the INBOX section (e.g. 'e01').
            body: The full reply text.

        Returns:
            The result of the step and what changed.
        """
        return self._act({"action_type": "reply_email", "email_id": email_id, "body": body})

    def archive_email(self, email_id: str) -> str:
        """
        Archive an email: right for noise (newsletters, FYIs); wrong for mail that still needs an answer.

        Args:
            email_id: Id of the email to archive (e.g. 'e07').

        Returns:
            The result of the step and what changed.
        """
        return self._act({"action_type": "archive_email", "email_id": email_id})

    def reschedule_meeting(self, meeting_id: str, new_start: str, new_end: str | None = None) -> str:
        """
        Move a movable meeting to a free future slot, e.g. to clear a double-booking. Attendees dislike moves
        at under two hours' notice.

        Args:
            meeting_id: Id of the meeting, as shown in the CALENDAR section (e.g. 'm03').
            new_start: New start, ISO 8601 local time, e.g. '2026-04-21T15:00'.
            new_end: Optional new end (ISO 8601); by default the duration is kept.

        Returns:
            The result of the step and what changed.
        """
        return self._act(
            {"action_type": "reschedule_meeting", "meeting_id": meeting_id, "new_start": new_start, "new_end": new_end}
        )

    def cancel_meeting(self, meeting_id: str, reason: str | None = None) -> str:
        """
        Cancel a meeting outright. Upsets every attendee (more so without a reason); cancelling something
        critical is a grave mistake. Prefer reschedule_meeting when the meeting still matters.

        Args:
            meeting_id: Id of the meeting to cancel (e.g. 'm05').
            reason: Why; attendees take it better with one.

        Returns:
            The result of the step and what changed.
        """
        return self._act({"action_type": "cancel_meeting", "meeting_id": meeting_id, "reason": reason})

    def complete_task(self, task_id: str) -> str:
        """
        Have the executive work on a task for this step; longer tasks need several calls. Its dependencies
        must be done first.

        Args:
            task_id: Id of the task, as shown in the TASKS section (e.g. 't02').

        Returns:
            The result of the step and what changed.
        """
        return self._act({"action_type": "complete_task", "task_id": task_id})

    def delegate_task(self, task_id: str, contact_id: str, note: str | None = None) -> str:
        """
        Hand a task to someone with capacity; they report back later, done or failed, depending on their
        reliability and fit (the briefing lists good fits per task).

        Args:
            task_id: Id of the task to hand off (e.g. 't04').
            contact_id: Id of the contact who takes it, from the CONTACTS section (e.g. 'c05').
            note: Optional instructions for the delegate.

        Returns:
            The result of the step and what changed.
        """
        return self._act({"action_type": "delegate_task", "task_id": task_id, "contact_id": contact_id, "note": note})

    def send_message(self, contact_id: str, body: str, channel: str | None = None) -> str:
        """
        Send a direct message, e.g. to apologise for a change you made. Soothes at most one grievance, only
        on the contact's preferred channel; messages with nothing to address are noise.

        Args:
            contact_id: Id of the contact (e.g. 'c02').
            body: The message text.
            channel: One of email, slack, sms, phone; default is the contact's preferred channel.

        Returns:
            The result of the step and what changed.
        """
        return self._act({"action_type": "send_message", "contact_id": contact_id, "body": body, "channel": channel})

    def do_nothing(self) -> str:
        """
        Let one step of time pass without acting. Penalised while urgent work waits.

        Returns:
            The result of the step and what changed.
        """
        return self._act({"action_type": "do_nothing"})


# --- rewards (TRL passes the environments of the group's rollouts) ----------------------------------
def grade_reward(environments: list[GhostexecToolEnv], **kwargs: Any) -> list[float]:
    """The episode grade: bounded, judged on the final state (the grade so far if the model stopped)."""
    return [env.reward for env in environments]


def return_reward(environments: list[GhostexecToolEnv], **kwargs: Any) -> list[float]:
    """The sum of the dense per-step rewards (unbounded; use with a small weight, if at all)."""
    return [env.total_return for env in environments]


def make_rows(tasks: list[str], seeds: range) -> list[dict[str, Any]]:
    """One dataset row per (task, seed): the prompt plus the columns reset() receives."""
    prompt = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "Here is today's briefing."}]
    return [{"prompt": prompt, "task_id": t, "seed": s} for t in tasks for s in seeds]


def main() -> None:
    parser = argparse.ArgumentParser(description="GRPO on Ghostexec with TRL (needs a GPU, trl and a model).")
    parser.add_argument("--model", default="Qwen/Qwen3-1.7B")
    parser.add_argument("--env-url", default=ENV_URL)
    parser.add_argument("--tasks", default="phase2_core,monday_morning,travel_day,board_prep_crunch,dinner_disaster")
    parser.add_argument("--seeds", type=int, default=64, help="seeds per task in the training set")
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--num-generations", type=int, default=8)
    parser.add_argument("--max-completion-length", type=int, default=16384)
    parser.add_argument("--learning-rate", type=float, default=1e-6)
    parser.add_argument("--use-vllm", action="store_true")
    parser.add_argument("--output-dir", default="out/grpo-ghostexec")
    args = parser.parse_args()

    globals()["ENV_URL"] = args.env_url  # read by every GhostexecToolEnv the trainer creates

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    config = GRPOConfig(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        num_generations=args.num_generations,
        per_device_train_batch_size=args.num_generations,
        max_completion_length=args.max_completion_length,
        learning_rate=args.learning_rate,
        logging_steps=1,
        log_completions=True,
        chat_template_kwargs={"enable_thinking": False},
        use_vllm=args.use_vllm,
    )
    trainer = GRPOTrainer(
        model=args.model,
        train_dataset=Dataset.from_list(make_rows(args.tasks.split(","), range(args.seeds))),
        reward_funcs=grade_reward,
        args=config,
        environment_factory=GhostexecToolEnv,
    )
    trainer.train()


if __name__ == "__main__":
    main()
