"""The weekly report's chart as a PNG (matplotlib's Agg renderer, no display, no pyplot state): a bar per
day of the week with its accepted and refused workouts stacked, and the day's active members as a line
on a second axis. Drawn from the report's own data when its email is composed, so the stored
notification stays small and the image always shows the numbers the email's text gives."""

import io
from datetime import date

CHART_SIZE = (6.4, 3.2)  # inches: shown 640 x 320 px, the width of a mail client's reading pane
CHART_DPI = 160  # drawn at 1024 x 512 px: sharp on high-density screens
ACCEPTED, REFUSED, ACTIVE = "#2f7d5b", "#d9822b", "#3559a8"


def weekly_chart_png(days: list[dict], title: str) -> bytes:
    """`days`: [{"day": "2026-03-02", "workouts": 12, "rejected": 1, "dau": 7.0}, ...] in order."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # imported on first use: ~0.3 s
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    labels = [date.fromisoformat(d["day"]).strftime("%a %d") for d in days]
    accepted = [d["workouts"] for d in days]
    refused = [d["rejected"] for d in days]
    active = [d["dau"] for d in days]
    figure = Figure(figsize=CHART_SIZE, dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    workouts = figure.add_subplot()
    workouts.bar(labels, accepted, color=ACCEPTED, label="accepted workouts")
    workouts.bar(labels, refused, bottom=accepted, color=REFUSED, label="refused workouts")
    workouts.set_ylabel("workouts")
    workouts.yaxis.set_major_locator(MaxNLocator(integer=True))
    workouts.spines[["top", "right"]].set_visible(False)
    members = workouts.twinx()
    members.plot(labels, active, color=ACTIVE, marker="o", linewidth=2, label="active members")
    members.set_ylabel("active members")
    members.set_ylim(bottom=0)
    members.spines[["top"]].set_visible(False)
    workouts.set_title(title, fontsize=11)
    handles = workouts.get_legend_handles_labels()[0] + members.get_legend_handles_labels()[0]
    figure.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize=8)
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
