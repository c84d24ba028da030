# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_hookd_global_optspecs
    string join \n config= json q/quiet log-format= h/help V/version
end

function __fish_hookd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_hookd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_hookd_using_subcommand
    set -l cmd (__fish_hookd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c hookd -n "__fish_hookd_needs_command" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_needs_command" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_needs_command" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_needs_command" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_needs_command" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_needs_command" -s V -l version -d 'Print version'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "serve" -d 'Run the receiver and the dispatcher'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "check-config" -d 'Validate and print the effective config (secrets redacted)'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "events" -d 'Inspect and replay events (through the running daemon\'s admin API)'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "dlq" -d 'The dead-letter queue: list, replay, purge'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "routes" -d 'Routes and their flow state; pause and resume them'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "stats" -d 'Counts per source and status, queue depth, DLQ size'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "tail" -d 'Follow what happens: arrivals, attempts, dead deliveries (/v1/tail)'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "send" -d 'Sign a test event with the source\'s secret and POST it to the receiver'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "store" -d 'The stopped store: verify it, or export every readable event'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "init" -d 'Write a starter config.toml (that check-config accepts), an example handler and placeholder secrets'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "version" -d 'Print the version'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "completions" -d 'Print a completion script: `hookd completions bash > /usr/share/bash-completion/completions/hookd`'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "man" -d 'Write the man pages (hookd.1 and one per subcommand) into DIR'
complete -c hookd -n "__fish_hookd_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookd -n "__fish_hookd_using_subcommand serve" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand serve" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand serve" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand serve" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand serve" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand check-config" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand check-config" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand check-config" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand check-config" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand check-config" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand events; and not __fish_seen_subcommand_from list show replay retry help" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand events; and not __fish_seen_subcommand_from list show replay retry help" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand events; and not __fish_seen_subcommand_from list show replay retry help" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand events; and not __fish_seen_subcommand_from list show replay retry help" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand events; and not __fish_seen_subcommand_from list show replay retry help" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand events; and not __fish_seen_subcommand_from list show replay retry help" -f -a "list" -d 'Events, newest first'
complete -c hookd -n "__fish_hookd_using_subcommand events; and not __fish_seen_subcommand_from list show replay retry help" -f -a "show" -d 'One event with its deliveries and every attempt (ID: hookd\'s or the sender\'s)'
complete -c hookd -n "__fish_hookd_using_subcommand events; and not __fish_seen_subcommand_from list show replay retry help" -f -a "replay" -d 'Deliver again: new attempts, same event id'
complete -c hookd -n "__fish_hookd_using_subcommand events; and not __fish_seen_subcommand_from list show replay retry help" -f -a "retry" -d 'Start pending and retrying deliveries now'
complete -c hookd -n "__fish_hookd_using_subcommand events; and not __fish_seen_subcommand_from list show replay retry help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from list" -l source -d 'Only this source\'s' -r
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from list" -l status -d 'Only events in this state' -r -f -a "pending\t''
retrying\t''
delivered\t''
dead\t''
unrouted\t''"
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from list" -l type -d 'Event type (a glob: "invoice.*")' -r
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from list" -l limit -d 'At most this many (1 to 1000)' -r
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from list" -l cursor -d 'Continue after a previous page' -r
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from list" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from list" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from list" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from show" -l source -d 'The source, when a sender\'s id is in several' -r
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from show" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from show" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from show" -l body -d 'Print the stored body instead'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from show" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from replay" -l source -d 'The source, when a sender\'s id is in several' -r
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from replay" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from replay" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from replay" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from replay" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from replay" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from retry" -l source -d 'The source, when a sender\'s id is in several' -r
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from retry" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from retry" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from retry" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from retry" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from retry" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from help" -f -a "list" -d 'Events, newest first'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from help" -f -a "show" -d 'One event with its deliveries and every attempt (ID: hookd\'s or the sender\'s)'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from help" -f -a "replay" -d 'Deliver again: new attempts, same event id'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from help" -f -a "retry" -d 'Start pending and retrying deliveries now'
complete -c hookd -n "__fish_hookd_using_subcommand events; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and not __fish_seen_subcommand_from list replay purge help" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and not __fish_seen_subcommand_from list replay purge help" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and not __fish_seen_subcommand_from list replay purge help" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and not __fish_seen_subcommand_from list replay purge help" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and not __fish_seen_subcommand_from list replay purge help" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and not __fish_seen_subcommand_from list replay purge help" -f -a "list" -d 'Dead deliveries, newest first'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and not __fish_seen_subcommand_from list replay purge help" -f -a "replay" -d 'Replay dead deliveries: of the given events, or --all (optionally filtered)'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and not __fish_seen_subcommand_from list replay purge help" -f -a "purge" -d 'Remove dead events: the given ones, or those dead for longer than --older-than'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and not __fish_seen_subcommand_from list replay purge help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from list" -l source -d 'Only this source\'s' -r
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from list" -l type -d 'Event type (a glob: "invoice.*")' -r
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from list" -l limit -d 'At most this many (1 to 1000)' -r
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from list" -l cursor -d 'Continue after a previous page' -r
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from list" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from list" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from list" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from replay" -l source -d 'With --all: only this source\'s' -r
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from replay" -l type -d 'With --all: only this event type (a glob)' -r
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from replay" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from replay" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from replay" -l all -d 'Every dead delivery (narrowed by --source and --type)'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from replay" -l dry-run -d 'Change nothing; say how many would be replayed'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from replay" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from replay" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from replay" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from purge" -l older-than -d 'Those dead for longer than this ("7d", "12h")' -r
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from purge" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from purge" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from purge" -l dry-run -d 'Change nothing; say how many would be purged'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from purge" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from purge" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from purge" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from help" -f -a "list" -d 'Dead deliveries, newest first'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from help" -f -a "replay" -d 'Replay dead deliveries: of the given events, or --all (optionally filtered)'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from help" -f -a "purge" -d 'Remove dead events: the given ones, or those dead for longer than --older-than'
complete -c hookd -n "__fish_hookd_using_subcommand dlq; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and not __fish_seen_subcommand_from list pause resume help" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand routes; and not __fish_seen_subcommand_from list pause resume help" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand routes; and not __fish_seen_subcommand_from list pause resume help" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and not __fish_seen_subcommand_from list pause resume help" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and not __fish_seen_subcommand_from list pause resume help" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and not __fish_seen_subcommand_from list pause resume help" -f -a "list" -d 'Every route: state (running, paused, breaker_open), waiting, due and running deliveries'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and not __fish_seen_subcommand_from list pause resume help" -f -a "pause" -d 'Stop starting attempts of a route (running ones finish); survives restarts'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and not __fish_seen_subcommand_from list pause resume help" -f -a "resume" -d 'Start a paused route\'s deliveries again'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and not __fish_seen_subcommand_from list pause resume help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from list" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from list" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from list" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from pause" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from pause" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from pause" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from pause" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from pause" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from resume" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from resume" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from resume" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from resume" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from resume" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from help" -f -a "list" -d 'Every route: state (running, paused, breaker_open), waiting, due and running deliveries'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from help" -f -a "pause" -d 'Stop starting attempts of a route (running ones finish); survives restarts'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from help" -f -a "resume" -d 'Start a paused route\'s deliveries again'
complete -c hookd -n "__fish_hookd_using_subcommand routes; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookd -n "__fish_hookd_using_subcommand stats" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand stats" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand stats" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand stats" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand stats" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand tail" -l source -d 'Only this source\'s' -r
complete -c hookd -n "__fish_hookd_using_subcommand tail" -l type -d 'Event type (a glob: "invoice.*")' -r
complete -c hookd -n "__fish_hookd_using_subcommand tail" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand tail" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand tail" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand tail" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand tail" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand send" -l source -d 'The source (its kind and secret) to sign for' -r
complete -c hookd -n "__fish_hookd_using_subcommand send" -l type -d 'Event type of the sample (default: the kind\'s most common one; a type without a sample of its own gets the kind\'s generic event)' -r
complete -c hookd -n "__fish_hookd_using_subcommand send" -l file -d 'Send this file as the body instead of a sample event' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand send" -l url -d 'Where to POST (default: this config\'s listen address, /webhooks/SOURCE)' -r
complete -c hookd -n "__fish_hookd_using_subcommand send" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand send" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand send" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand send" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hookd -n "__fish_hookd_using_subcommand store; and not __fish_seen_subcommand_from check export help" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand store; and not __fish_seen_subcommand_from check export help" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand store; and not __fish_seen_subcommand_from check export help" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand store; and not __fish_seen_subcommand_from check export help" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand store; and not __fish_seen_subcommand_from check export help" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand store; and not __fish_seen_subcommand_from check export help" -f -a "check" -d 'Verify the log and the index of the stopped store; non-zero exit on damage'
complete -c hookd -n "__fish_hookd_using_subcommand store; and not __fish_seen_subcommand_from check export help" -f -a "export" -d 'Every event and body that can be read, as JSON lines on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand store; and not __fish_seen_subcommand_from check export help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from check" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from check" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from check" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from export" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from export" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from export" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from export" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "check" -d 'Verify the log and the index of the stopped store; non-zero exit on damage'
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "export" -d 'Every event and body that can be read, as JSON lines on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookd -n "__fish_hookd_using_subcommand init" -l source -d 'A source of this kind (repeat for more; default: stripe)' -r
complete -c hookd -n "__fish_hookd_using_subcommand init" -l from-webhook -d 'Convert an adnanh/webhook hooks file (JSON or YAML) instead; what does not convert is listed on stderr' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand init" -l dir -d 'Where to write (default: the working directory)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand init" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand init" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand init" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand init" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand init" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand version" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand version" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand version" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand version" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand version" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand completions" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand completions" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand completions" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand completions" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand completions" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand man" -l config -d 'Config file (default: $HOOKD_CONFIG, ./config.toml, /etc/hookd/config.toml)' -r -F
complete -c hookd -n "__fish_hookd_using_subcommand man" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c hookd -n "__fish_hookd_using_subcommand man" -l json -d 'Machine-readable output: exactly one JSON document on stdout'
complete -c hookd -n "__fish_hookd_using_subcommand man" -s q -l quiet -d 'Lists print ids only, one per line; other commands print nothing on success (for scripts)'
complete -c hookd -n "__fish_hookd_using_subcommand man" -s h -l help -d 'Print help'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "serve" -d 'Run the receiver and the dispatcher'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "check-config" -d 'Validate and print the effective config (secrets redacted)'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "events" -d 'Inspect and replay events (through the running daemon\'s admin API)'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "dlq" -d 'The dead-letter queue: list, replay, purge'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "routes" -d 'Routes and their flow state; pause and resume them'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "stats" -d 'Counts per source and status, queue depth, DLQ size'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "tail" -d 'Follow what happens: arrivals, attempts, dead deliveries (/v1/tail)'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "send" -d 'Sign a test event with the source\'s secret and POST it to the receiver'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "store" -d 'The stopped store: verify it, or export every readable event'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "init" -d 'Write a starter config.toml (that check-config accepts), an example handler and placeholder secrets'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "version" -d 'Print the version'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "completions" -d 'Print a completion script: `hookd completions bash > /usr/share/bash-completion/completions/hookd`'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "man" -d 'Write the man pages (hookd.1 and one per subcommand) into DIR'
complete -c hookd -n "__fish_hookd_using_subcommand help; and not __fish_seen_subcommand_from serve check-config events dlq routes stats tail send store init version completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from events" -f -a "list" -d 'Events, newest first'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from events" -f -a "show" -d 'One event with its deliveries and every attempt (ID: hookd\'s or the sender\'s)'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from events" -f -a "replay" -d 'Deliver again: new attempts, same event id'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from events" -f -a "retry" -d 'Start pending and retrying deliveries now'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from dlq" -f -a "list" -d 'Dead deliveries, newest first'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from dlq" -f -a "replay" -d 'Replay dead deliveries: of the given events, or --all (optionally filtered)'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from dlq" -f -a "purge" -d 'Remove dead events: the given ones, or those dead for longer than --older-than'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from routes" -f -a "list" -d 'Every route: state (running, paused, breaker_open), waiting, due and running deliveries'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from routes" -f -a "pause" -d 'Stop starting attempts of a route (running ones finish); survives restarts'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from routes" -f -a "resume" -d 'Start a paused route\'s deliveries again'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "check" -d 'Verify the log and the index of the stopped store; non-zero exit on damage'
complete -c hookd -n "__fish_hookd_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "export" -d 'Every event and body that can be read, as JSON lines on stdout'
