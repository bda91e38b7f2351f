"""``delivery-policy``: who receives each email type, from the settings in force.

The settings are read at every message (``gateway.entrance.delivery``), so what an
admin saves applies to the next message without a restart.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.content import mime
from gateway.context import Context
from gateway.entrance import delivery
from gateway.entrance.pipeline import StageServices


class DeliveryPolicy:
    name: ClassVar[str] = "delivery-policy"
    description: ClassVar[str] = (
        "Send to the customer or not, BCC the admin and extra addresses, per email type"
    )

    # It readdresses ``ctx.later`` as it would the message.
    later_aware: ClassVar[bool] = True

    def __init__(self, services: StageServices) -> None:
        self.settings = services.settings
        self.config = services.config

    async def process(self, ctx: Context) -> None:
        settings, _ = await delivery.current(self.settings, self.config)
        policy = settings.policy(ctx.email_type)
        admin = settings.admin
        if not policy.customers:
            for recipient in ctx.recipients:
                if recipient.role != "bcc" or recipient.rule == "envelope":
                    ctx.suppress(recipient, f"delivery.{ctx.email_type}.customers is off")
            # The copies that still go out are the admin's: addressed to the
            # admin, they show no customer address.
            if ctx.message is not None:
                mime.readdress(ctx.message, [mime.mailbox(admin)] if admin else [])
            elif ctx.later is not None:
                ctx.later.readdress = [admin] if admin else []
        if policy.bcc_admin and admin:
            ctx.add_recipient(admin, "bcc", "delivery.bcc_admin")
        for address in policy.bcc:
            ctx.add_recipient(address, "bcc", "delivery.bcc")
