#!/bin/sh
# Example hookd command handler: the raw webhook body arrives on stdin, the
# event's identity in HOOKD_* variables. Exit 0 = delivered; 65 = give up
# (dead at once); anything else = retry later with backoff.
set -eu
bytes=$(wc -c)
echo "handled ${HOOKD_SOURCE} ${HOOKD_EVENT_TYPE} ${HOOKD_EVENT_ID} (hookd id ${HOOKD_ID}, attempt ${HOOKD_ATTEMPT}, ${bytes} bytes, received ${HOOKD_RECEIVED_AT})"
