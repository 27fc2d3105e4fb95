"""Background work of the Slack decisions: answering Slack once the decision is recorded."""

from celery import shared_task

from portal.chatops import services
from portal.integrations import slack


@shared_task(
    autoretry_for=(slack.SlackUnavailable,), retry_backoff=2, retry_backoff_max=60, retry_jitter=True, max_retries=8
)
def answer_slack_interaction(interaction_id: int) -> None:
    """Update the Slack message with the decision, or tell the clicker why it was not taken."""
    services.slack_interaction_answer(interaction_id=interaction_id)
