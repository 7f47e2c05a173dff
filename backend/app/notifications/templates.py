"""What a notification looks like out of band: the email (subject, plain text, HTML alternative) and the
SMS text of each notification kind, rendered from the stored notification (kind, title, body, data).

Kinds (the `kind` column; the consumer and the scheduled jobs write them, the senders read them):

| kind | from | data |
|---|---|---|
| `order.created` | OrderCreated, to the buyer | receipt {order_id, item_id, product_name, quantity, unit_price, total, fee, burned, tx_hash, ...} (or those keys at the top level) |
| `order.sold` | OrderCreated, to the seller | orderId, proceeds, txHash |
| `token.minted` | TokenMinted | account, amount, txHash |
| `reward.claimed` | FitnessReward | account, amount, claimId, txHash |
| `reward.issued` | FitnessRewardIssued (API) | account, amount, claimId, deadline |
| `<kind>.reverted`, or any kind with `corrects` set | a reverted event | original (the reverted notification's data) |
| `reminder.daily` | daily_reminders | localDate, localTime, timezone |
| `challenge.weekly` | weekly_challenge_results | week, rank, participants, distanceM, top [{rank, name, distanceM}] |
| `report.weekly` | weekly_activity_reports | week, from, to, workouts, distanceM, activeMinutes, activities {name: {workouts, distanceM, activeMinutes}} |
| `analytics.weekly` | weekly_analytics_reports (to tenant admins) | tenantId, tenantName, week, from, to, figures [{key, label, unit, value, previous}], days [{day, dau, workouts, rejected}]; its email shows a chart of the days (an inline PNG) |

Data keys are read camelCase first, then snake_case (the event payloads are camelCase). Amounts are
wei as decimal strings (uint256 does not fit a JSON number) and shown as FIT with up to 18 decimals. An
unknown kind is rendered from the title and body, so a new kind never blocks its emails.
"""  # noqa: E501 - a Markdown table's rows cannot wrap

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from fitmint.units import fit_text

ORDER_RECEIPT = "order.created"
ORDER_SOLD = "order.sold"
REWARD_ISSUED = "reward.issued"
TOKEN_MINTED = "token.minted"
REWARD_CLAIMED = "reward.claimed"
DAILY_REMINDER = "reminder.daily"
CHALLENGE_RESULT = "challenge.weekly"
ACTIVITY_REPORT = "report.weekly"
ANALYTICS_REPORT = "analytics.weekly"

FOOTER = "You receive this because email notifications are on in your fitmint preferences."
REORG_NOTE = "This was reversed by a chain reorganisation"


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML part shows (`<img src="cid:...">`), sent beside it in a multipart/related part."""
    cid: str
    png: bytes
    alt: str
    filename: str


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str
    images: tuple[InlineImage, ...] = ()


def fit(wei) -> str:
    """A wei amount (int or decimal string) as FIT: "12.5 FIT", exact (no float on the way)."""
    if wei is None or wei == "":
        return "-"
    return f"{fit_text(wei)} FIT"


def km(metres) -> str:
    return f"{(float(metres or 0)) / 1000:.2f} km"


def _get(data: dict, key: str, default=None):
    """data[camelCase] or data[snake_case]."""
    if key in data:
        return data[key]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in key)
    return data.get(snake, default)


def is_correction(notification: dict) -> bool:
    return bool(notification.get("corrects")) or str(notification.get("kind", "")).endswith(".reverted")


def render_email(notification: dict) -> Email:
    """The email of a stored notification: {"kind", "title", "body", "data", "corrects"}."""
    kind = str(notification.get("kind", ""))
    data = notification.get("data") or {}
    if is_correction(notification):
        return _correction(notification, data)
    renderer = _RENDERERS.get(kind, _generic)
    return renderer(notification, data)


def sms_text(notification: dict) -> str:
    """The SMS text (untruncated; the SMS sender fits it to one message)."""
    if is_correction(notification):
        return f"fitmint correction: {_corrected_title(notification)} - {REORG_NOTE.lower()}."
    return f"fitmint: {notification['title']}. {notification['body']}"


# --- the pieces ---------------------------------------------------------------------------------------

def _email(subject: str, intro: str, rows: list[tuple[str, str]] = (), outro: str = "",
           table: tuple[list[str], list[list[str]]] | None = None, image: InlineImage | None = None) -> Email:
    """Plain text and a simple HTML alternative with the same content (the HTML also shows `image`, whose
    numbers the text gives in `rows` or `table`)."""
    text = [intro, ""]
    if rows:
        width = max(len(label) for label, _ in rows)
        text += [f"{label + ':':<{width + 1}} {value}" for label, value in rows] + [""]
    if table:
        header, lines = table
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
        text += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
                 for row in [header, *lines]] + [""]
    if outro:
        text += [outro, ""]
    text += ["-- ", FOOTER]
    html = [f"<p>{escape(intro)}</p>"]
    if image:
        html.append(f"<p><img src=\"cid:{escape(image.cid)}\" alt=\"{escape(image.alt)}\" width=\"640\" "
                    "style=\"max-width:100%;height:auto\"></p>")
    if rows:
        html.append("<table>" + "".join(f"<tr><th align=\"left\">{escape(label)}</th><td>{escape(value)}</td></tr>"
                                        for label, value in rows) + "</table>")
    if table:
        header, lines = table
        html.append("<table><tr>" + "".join(f"<th align=\"left\">{escape(h)}</th>" for h in header) + "</tr>"
                    + "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in line) + "</tr>"
                              for line in lines) + "</table>")
    if outro:
        html.append(f"<p>{escape(outro)}</p>")
    html.append(f"<p style=\"color:#666;font-size:small\">{escape(FOOTER)}</p>")
    document = ("<!DOCTYPE html><html><body style=\"font-family:sans-serif\">" + "\n".join(html)
                + "</body></html>")
    return Email(subject=subject, text="\n".join(text), html=document, images=(image,) if image else ())


def _order_rows(data: dict) -> list[tuple[str, str]]:
    data = data.get("receipt") or data
    quantity = _get(data, "quantity")
    unit_price = _get(data, "unitPrice")
    total = _get(data, "total")
    if total is None and quantity is not None and unit_price is not None:
        total = int(quantity) * int(unit_price)
    item = _get(data, "productName") or f"item #{_get(data, 'itemId', '?')}"
    rows = [("Order", f"#{_get(data, 'orderId', '?')}"), ("Item", str(item)),
            ("Quantity", str(quantity if quantity is not None else "-")),
            ("Unit price", fit(unit_price)), ("Total", fit(total)), ("Fee", fit(_get(data, "fee")))]
    if _get(data, "burned") not in (None, "0", 0):
        rows.append(("Burned", fit(_get(data, "burned"))))
    if _get(data, "txHash"):
        rows.append(("Transaction", str(_get(data, "txHash"))))
    return rows


def _order_receipt(notification: dict, data: dict) -> Email:
    data = data.get("receipt") or data
    item = _get(data, "productName") or f"item #{_get(data, 'itemId', '?')}"
    return _email(f"Your fitmint receipt: order #{_get(data, 'orderId', '?')} ({item})",
                  "Thank you for your purchase. Your order was confirmed on-chain.", _order_rows(data))


def _token_rows(data: dict) -> list[tuple[str, str]]:
    rows = [("Amount", fit(_get(data, "amount")))]
    if _get(data, "account"):
        rows.append(("Wallet", str(_get(data, "account"))))
    if _get(data, "claimId"):
        rows.append(("Claim", str(_get(data, "claimId"))))
    if _get(data, "txHash"):
        rows.append(("Transaction", str(_get(data, "txHash"))))
    return rows


def _token_minted(notification: dict, data: dict) -> Email:
    return _email(f"{fit(_get(data, 'amount'))} minted to your wallet",
                  "New FIT arrived in your wallet.", _token_rows(data))


def _reward_claimed(notification: dict, data: dict) -> Email:
    return _email(f"Reward claimed: {fit(_get(data, 'amount'))}",
                  "Your activity reward was claimed on-chain.", _token_rows(data))


def _order_sold(notification: dict, data: dict) -> Email:
    rows = [("Order", f"#{_get(data, 'orderId', '?')}"), ("Proceeds", fit(_get(data, "proceeds")))]
    if _get(data, "txHash"):
        rows.append(("Transaction", str(_get(data, "txHash"))))
    return _email(notification.get("title") or "Your item sold", notification.get("body", ""), rows)


def _reward_issued(notification: dict, data: dict) -> Email:
    rows = _token_rows(data)
    if _get(data, "deadline"):
        rows.append(("Claim before", datetime.fromtimestamp(int(_get(data, "deadline")), UTC)
                     .strftime("%Y-%m-%d %H:%M UTC")))
    return _email(f"Reward ready: {fit(_get(data, 'amount'))}", notification.get("body", "")
                  or "Your workout earned a reward. Claim it from your wallet.", rows)


def _correction(notification: dict, data: dict) -> Email:
    base = str(notification.get("kind", "")).removesuffix(".reverted")
    data = data.get("original") or data
    data = data.get("receipt") or data
    if base in (ORDER_RECEIPT, ORDER_SOLD) or _get(data, "orderId") is not None:
        rows = (_order_rows(data) if _get(data, "quantity") is not None
                else [("Order", f"#{_get(data, 'orderId', '?')}")])
        what = f"order #{_get(data, 'orderId', '?')}"
    else:
        rows = _token_rows(data) if _get(data, "amount") is not None else []
        what = _corrected_title(notification) or "an earlier notification"
    return _email(f"Correction: {what}",
                  f"{REORG_NOTE}: {what}, which we told you about earlier, is no longer on the chain.",
                  rows, "If the transaction is included again you will get a new notification. "
                        "Nothing was charged or credited for the reversed one.")


def _corrected_title(notification: dict) -> str:
    return str(notification.get("title") or "").removeprefix("Reversed: ")


def _reminder(notification: dict, data: dict) -> Email:
    return _email(notification.get("title") or "Time to move", notification.get("body", ""),
                  [("Reminder time", f"{_get(data, 'localTime', '')} ({_get(data, 'timezone', '')})")],
                  "Change your reminder times in your fitmint preferences.")


def _challenge(notification: dict, data: dict) -> Email:
    top = _get(data, "top") or []
    lines = [[f"#{entry['rank']}", str(entry["name"]), km(_get(entry, "distanceM"))] for entry in top]
    rows = [("Week", str(_get(data, "week", ""))),
            ("Your rank", f"#{_get(data, 'rank', '?')} of {_get(data, 'participants', '?')}"),
            ("Your distance", km(_get(data, "distanceM")))]
    return _email(notification.get("title") or "Weekly challenge results", notification.get("body", ""), rows,
                  table=(["Rank", "Member", "Distance"], lines) if lines else None)


def _report(notification: dict, data: dict) -> Email:
    activities = _get(data, "activities") or {}
    lines = [[name, str(_get(a, "workouts", 0)), km(_get(a, "distanceM")), f"{round(_get(a, 'activeMinutes', 0))} min"]
             for name, a in sorted(activities.items())]
    rows = [("Week", f"{_get(data, 'week', '')} ({_get(data, 'from', '')} - {_get(data, 'to', '')})"),
            ("Workouts", str(_get(data, "workouts", 0))), ("Distance", km(_get(data, "distanceM"))),
            ("Active time", f"{round(_get(data, 'activeMinutes', 0))} min")]
    return _email(notification.get("title") or "Your weekly activity report", notification.get("body", ""), rows,
                  table=(["Activity", "Workouts", "Distance", "Active time"], lines) if lines else None)


def _figure(value, unit: str) -> str:
    """A report's figure: a count, km, FIT (a decimal string already in FIT) or a rate (a fraction)."""
    if value is None:
        return "-"
    if unit == "km":
        return f"{float(value):.1f} km"
    if unit == "FIT":
        return f"{value} FIT"
    if unit == "rate":
        return f"{float(value):.0%}"
    return f"{value:,}"


def _change(value, previous) -> str:
    if value is None or previous is None:
        return ""
    value, previous = float(value), float(previous)
    if previous == 0:
        return "none the week before" if value else "same as the week before"
    return f"{(value - previous) / previous:+.0%} vs the week before"


def _analytics_report(notification: dict, data: dict) -> Email:
    from backend.app.analytics.chart import weekly_chart_png  # matplotlib: only where a report is sent

    week, tenant = _get(data, "week", ""), _get(data, "tenantName", "your tenant")
    rows = [("Week", f"{week} ({_get(data, 'from', '')} - {_get(data, 'to', '')})")]
    rows += [(f["label"], f"{_figure(f['value'], f['unit'])}  ({_change(f['value'], f['previous'])})")
             for f in _get(data, "figures") or []]
    days = _get(data, "days") or []
    lines = [[d["day"], f"{d['dau']:g}", str(d["workouts"]), str(d["rejected"])] for d in days]
    image = InlineImage(cid="weekly-chart@fitmint", png=weekly_chart_png(days, f"{tenant}: {week}"),
                        alt=f"Workouts and active members per day of {week}", filename=f"fitmint-{week}.png")
    return _email(notification.get("title") or f"Weekly analytics {week}", notification.get("body", ""), rows,
                  "The dashboards have more: Analytics in the fitmint app.",
                  table=(["Day", "Active members", "Workouts", "Refused"], lines), image=image)


def _generic(notification: dict, data: dict) -> Email:
    return _email(notification.get("title") or "fitmint", notification.get("body", ""))


_RENDERERS = {ORDER_RECEIPT: _order_receipt, "order.receipt": _order_receipt, ORDER_SOLD: _order_sold,
              TOKEN_MINTED: _token_minted, REWARD_CLAIMED: _reward_claimed, REWARD_ISSUED: _reward_issued,
              DAILY_REMINDER: _reminder, CHALLENGE_RESULT: _challenge, ACTIVITY_REPORT: _report,
              ANALYTICS_REPORT: _analytics_report}
