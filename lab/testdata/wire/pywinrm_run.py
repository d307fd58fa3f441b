# Runs one command line on a lab server with Debian's python3-winrm (an independent
# WinRM client) and prints: exit code NUL stdout NUL stderr.
import os
import sys

import winrm

url = os.environ["LAB_URL"]
# NTLM: the lab's account is a domain account, and WinRM refuses Basic for those. Plain
# HTTP on loopback, so no message encryption (the lab does not implement it).
p = winrm.Protocol(endpoint=url, transport="ntlm", username=os.environ["LAB_USER"],
                   password=os.environ["LAB_PASSWORD"], server_cert_validation="ignore",
                   message_encryption="never",
                   operation_timeout_sec=20, read_timeout_sec=30)
shell = p.open_shell()
try:
    cmd = p.run_command(shell, os.environ["LAB_COMMAND"])
    out, err, code = p.get_command_output(shell, cmd)
    p.cleanup_command(shell, cmd)
finally:
    p.close_shell(shell)
sys.stdout.buffer.write(str(code).encode() + b"\0" + out + b"\0" + err)
