"""`harbor-fleet webhook create|list|delete|deliveries` (DESIGN 2.6, 2.7)."""

import argparse

from harbor_fleet.cli.results import Result
from harbor_fleet.domain.times import format_datetime
from harbor_fleet.service.admin import Admin


async def create(admin: Admin, args: argparse.Namespace) -> Result:
    webhook = await admin.create_webhook(args.fleet, args.url, args.events)
    text = (
        f"webhook_id: {webhook.webhook_id}\nsecret: {webhook.secret}\n"
        "(the signing secret is shown only this once; deliveries are signed like ingest requests)"
    )
    return Result({"webhook_id": webhook.webhook_id, "secret": webhook.secret}, text)


async def listing(admin: Admin, args: argparse.Namespace) -> Result:
    webhooks = await admin.list_webhooks(args.fleet)
    rows = [
        {
            "webhook_id": hook.webhook_id,
            "fleet_id": hook.fleet_id,
            "url": hook.url,
            "events": hook.event_types,
            "created_at": format_datetime(hook.created_at),
            "pending": hook.pending,
            "dead": hook.dead,
        }
        for hook in webhooks
    ]
    lines = [
        f"{row['webhook_id']}  {row['url']}  events {','.join(hook.event_types)}  "
        f"pending {hook.pending}  dead {hook.dead}"
        for row, hook in zip(rows, webhooks, strict=True)
    ]
    return Result({"webhooks": rows}, "\n".join(lines) or f"no webhooks for fleet {args.fleet}")


async def delete(admin: Admin, args: argparse.Namespace) -> Result:
    await admin.delete_webhook(args.webhook_id)
    return Result({"webhook_id": args.webhook_id, "deleted": True}, f"deleted webhook {args.webhook_id}")


async def deliveries(admin: Admin, args: argparse.Namespace) -> Result:
    found = await admin.deliveries(args.fleet, args.status, args.limit)
    rows = [
        {
            "delivery_id": item.delivery_id,
            "webhook_id": item.webhook_id,
            "event_id": item.event_id,
            "event_type": item.event_type,
            "status": item.status,
            "attempts": item.attempts,
            "last_status": item.last_status,
            "last_error": item.last_error,
            "created_at": format_datetime(item.created_at),
            "next_attempt_at": format_datetime(item.next_attempt_at) if item.status == "pending" else None,
            "finished_at": None if item.finished_at is None else format_datetime(item.finished_at),
        }
        for item in found
    ]
    lines = [
        f"{row['delivery_id']}  {row['webhook_id']}  {row['event_id']}  {row['status']}  "
        f"attempts {row['attempts']}" + (f"  last: {row['last_error']}" if row["last_error"] else "")
        for row in rows
    ]
    return Result({"deliveries": rows}, "\n".join(lines) or f"no deliveries for fleet {args.fleet}")
