"""powerlog: the shared vocabulary of mlpower.

Sample model and file formats (spl.txt, ptd_logs.txt, LoadGen logs, session
records, the result folder layout) and UTC nanosecond timestamps. No network,
no hardware.
"""

from powerlog.errors import FormatError, MissingFileError, PowerlogError, TimestampError
from powerlog.layout import PHASE_DIRS, RANGING, REQUIRED_FILES, TESTING, RunFolder
from powerlog.lines import BadLine
from powerlog.mllog import DetailLog, LoadGenEvent, SummaryLog, parse_detail_log, read_detail_log, read_summary_log
from powerlog.ptdlog import PtdEvent, PtdEventKind, PtdLog, parse_ptd_log, read_ptd_log
from powerlog.session_record import PtdConfig, SessionMessage, SessionRecord, read_session_record
from powerlog.spl import (
    SPL_FIELDS,
    ChannelReadings,
    ChannelSample,
    PowerLog,
    PowerSample,
    SplWriter,
    format_spl_line,
    parse_spl_text,
    read_spl,
    write_spl,
)
from powerlog.timestamps import format_ptd_timestamp, parse_ptd_timestamp

__all__ = [
    "PHASE_DIRS",
    "RANGING",
    "REQUIRED_FILES",
    "SPL_FIELDS",
    "TESTING",
    "BadLine",
    "ChannelReadings",
    "ChannelSample",
    "DetailLog",
    "FormatError",
    "LoadGenEvent",
    "MissingFileError",
    "PowerLog",
    "PowerSample",
    "PowerlogError",
    "PtdConfig",
    "PtdEvent",
    "PtdEventKind",
    "PtdLog",
    "RunFolder",
    "SessionMessage",
    "SessionRecord",
    "SplWriter",
    "SummaryLog",
    "TimestampError",
    "format_ptd_timestamp",
    "format_spl_line",
    "parse_detail_log",
    "parse_ptd_log",
    "parse_ptd_timestamp",
    "parse_spl_text",
    "read_detail_log",
    "read_ptd_log",
    "read_session_record",
    "read_spl",
    "read_summary_log",
    "write_spl",
]
