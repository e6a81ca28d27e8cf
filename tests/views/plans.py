"""Hand-built plans and results for the view tests (no engine, no network)."""

from __future__ import annotations

from reconciler.engine.plan import (
    Action,
    ActionKind,
    ApplyResult,
    CampaignSummary,
    Diagnostic,
    Plan,
    PlanMeta,
    StepResult,
    StepStatus,
)

K = ActionKind
PHONES = tuple(f"1380013{i:04d}" for i in range(170))


def create_lane() -> tuple[Action, ...]:
    """A new xfyeta campaign: create, insert 170 in 2 batches, start."""
    name = "gitops-spring-promo"
    return (
        Action(K.CREATE, "spring-promo", "iflytek", 1, name, "not on the platform"),
        Action(K.INSERT, "spring-promo", "iflytek", 1, name, "170 contacts for the new task", phones=PHONES,
               calls=2),
        Action(K.START, "spring-promo", "iflytek", 1, name, "the files say running"),
    )


def replace_pair(redial: int = 3) -> tuple[Action, ...]:
    name = "gitops-autumn"
    why = "replace: settings changed; replacement allowed, 3 contacts will be dialed again"
    return (
        Action(K.DELETE, "autumn", "yc", 1, name, why, task_id="T-OLD", replaces=True, redial=redial),
        Action(K.CREATE, "autumn", "yc", 1, name, why, phones=PHONES[:3], replaces=True, redial=redial),
        Action(K.START, "autumn", "yc", 1, name, "the files say running"),
    )


def full_plan() -> Plan:
    actions = (
        *create_lane(),
        *replace_pair(),
        Action(K.PAUSE, "winter", "iflytek", 1, "gitops-winter", "started outside campaignctl; the files say paused",
               task_id="T-W", drift=True),
        Action(K.DIAL, "direct-1", "iflytek", 0, "direct-1", "5 contacts in the files have never been dialed",
               phones=PHONES[100:105], calls=1),
        Action(K.DELETE, "old", "iflytek", 1, "gitops-old", "the files say absent", task_id="T-D"),
    )
    return Plan(
        actions,
        diagnostics=(
            Diagnostic("warning", "winter", "2 contacts changed values after they were sent",
                       "campaigns/winter.yaml", 14),
            Diagnostic("warning", "gone", "the campaign left the files; its 1 task(s) stay on profile 'yc'"),
        ),
        campaigns=(CampaignSummary("spring-promo", "iflytek", "task", "running", "absent", 170, 0),),
        meta=PlanMeta(created_at="2024-05-01T00:00:00Z", config_dir="campaigns", config_digest="abc",
                      state_lineage="L", state_serial=4, observed_digest="def", prune=True,
                      allow_replace=("autumn",)),
        notes=("summer: task gitops-summer (T-S) has finished",),
    )


def error_plan() -> Plan:
    return Plan(
        create_lane(),
        diagnostics=(Diagnostic("error", "spring-promo", "robot 42 is not published", "campaigns/spring.yaml", 3),),
    )


def mixed_result(plan: Plan) -> ApplyResult:
    a = plan.actions
    return ApplyResult(
        steps=(
            StepResult(a[0], StepStatus.OK, calls=1, task_id="T-NEW"),
            StepResult(a[1], StepStatus.FAILED, "vendor error 1002: rejected", calls=2, done=100, task_id="T-NEW"),
            StepResult(a[2], StepStatus.SKIPPED, "an earlier step of this task failed"),
            StepResult(a[7], StepStatus.UNKNOWN, "5 contacts may or may not have been dialed", calls=1),
        ),
        recovered=("autumn: an interrupted create was found on the platform",),
    )


def ok_result(plan: Plan) -> ApplyResult:
    return ApplyResult(steps=tuple(StepResult(a, StepStatus.OK, calls=a.calls, done=len(a.phones),
                                              task_id=a.task_id or "T-X") for a in plan.actions))
