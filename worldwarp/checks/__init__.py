"""The checks every front end (CLI, Studio, Prefect flows) shares, where they need no orchestrator: which errors
are the user's (exit 2) and which are bugs (exit 1), how a ``--trajectory`` value becomes a knob, files read
strictly, writable outputs and external services probed with a timeout. flows/checks.py adds what touches
orchestration (the device, Prefect's API) and is the one module the front ends import. See docs/ERRORS.md."""

from .errors import (DeviceError, InputFileError, ServiceError, UserError, first_line, is_user_error, user_errors,
                     write_traceback)
from .files import check_output_suffix, check_writable, read_json_file, read_text_file, read_yaml_text
from .trajectory import trajectory_override

__all__ = ["DeviceError", "InputFileError", "ServiceError", "UserError", "check_output_suffix", "check_writable",
           "first_line", "is_user_error", "read_json_file", "read_text_file", "read_yaml_text", "trajectory_override",
           "user_errors", "write_traceback"]
