"""``delivery-policy``: who receives each email type, per the operator's settings."""

from __future__ import annotations

from typing import ClassVar

from gateway.config import DeliverySettings
from gateway.context import Context
from gateway.pipeline import Services


class DeliveryPolicy:
    name: ClassVar[str] = "delivery-policy"
    description: ClassVar[str] = (
        "Send to the customer or not, BCC the admin and extra addresses, per email type"
    )

    def __init__(self, services: Services) -> None:
        self.settings: DeliverySettings = services.config.delivery

    async def process(self, ctx: Context) -> None:
        policy = self.settings.policy(ctx.email_type)
        admin = self.settings.admin
        if not policy.customers:
            for recipient in ctx.recipients:
                if recipient.role != "bcc" or recipient.rule == "envelope":
                    ctx.suppress(recipient, f"delivery.{ctx.email_type}.customers is off")
        if policy.bcc_admin and admin:
            ctx.add_recipient(admin, "bcc", "delivery.bcc_admin")
        for address in policy.bcc:
            ctx.add_recipient(address, "bcc", "delivery.bcc")
