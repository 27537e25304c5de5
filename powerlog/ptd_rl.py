"""PTDaemon's ``RL`` / ``RL,*,*`` replies: the sample lines as PTDaemon 1.10/1.11 sends them.

Over the socket a sample has no ``Mark`` field, and a multichannel sample's channel blocks carry
no ``ChN`` label: ``Time,<t>,Watts,<sum>,Volts,<v>,Amps,<a>,PF,<pf>,Watts,<w1>,Volts,...`` (the
client that saves them, power-dev, inserts ``Mark,<session>_<mode>`` after the first group and a
``ChN,`` before each channel's, which gives the spl.txt format). The header is ``Last N samples``,
for ``RL,*,*`` ``Last N samples from sum channel and channels 1 - C``.

PTDaemon's ``-l`` sample log, by contrast, holds complete spl.txt lines, marks and labels included.
"""

from __future__ import annotations

import re

from powerlog.spl import PowerSample, format_spl_line

__all__ = ["RL_HEADER", "format_rl_line", "rl_header", "rl_line_to_spl"]

# ASCII digits, few enough for int() and for reading
RL_HEADER = re.compile(r"Last ([0-9]{1,9}) samples?(?: from sum channel and channels [0-9]{1,4} - [0-9]{1,4})?")
_CHANNEL_LABEL = re.compile(r",Ch[0-9]+,Watts,")


def rl_header(count: int, channels: int = 1) -> str:
    """The first reply line to RL (``channels`` 1) or RL,*,* (``channels`` > 1)."""
    if channels > 1:
        return f"Last {count} samples from sum channel and channels 1 - {channels}"
    return f"Last {count} samples"


def format_rl_line(sample: PowerSample) -> str:
    """One sample as PTDaemon sends it over the socket: no Mark, no channel labels."""
    line = format_spl_line(sample).replace(f",Mark,{sample.mark}", "", 1)
    return _CHANNEL_LABEL.sub(",Watts,", line)


def rl_line_to_spl(line: str, mark: str) -> str:
    """An RL reply line in the spl.txt format, as power-dev saves it: ``mark`` after the first group,
    ``ChN`` before each channel's. A line that already has a Mark field is returned as it is."""
    if ",Mark," in line:
        return line
    groups = line.split(",Watts,")
    if len(groups) < 2:
        return line  # not a sample line: the spl parser reports it
    spl = f"{groups[0]},Watts,{groups[1]},Mark,{mark}"
    for channel, values in enumerate(groups[2:], start=1):
        spl += f",Ch{channel},Watts,{values}"
    return spl
