import sys

from ops.dashboards import COMMAND, generated, retired
from ops.dashboards import __doc__ as about
from ops.dashboards.alerts import RuleError
from scripts import generated as generated_files


def main(argv: list[str] | None = None) -> int:
    return generated_files.main(argv, command=COMMAND, description=about.split("\n\n")[0], generate=generated,
                                failure=RuleError, what="dashboards", make_target="dashboards", retired=retired)


if __name__ == "__main__":
    sys.exit(main())
