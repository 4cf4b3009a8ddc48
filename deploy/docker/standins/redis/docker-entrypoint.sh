#!/bin/sh
# Entrypoint of the redis stand-in, with the real image's command-line
# rules: arguments that start with "-" (or a .conf file first) are options
# of redis-server, and redis-server started without a configuration file
# gets --protected-mode no, so that other containers may connect (the
# container's network is the boundary; a password is the user's to set).
set -e
case "$1" in
-* | *.conf) set -- redis-server "$@" ;;
esac
if [ "$1" = redis-server ]; then
	shift
	case "$1" in
	*.conf) conf=$1; shift; set -- redis-server "$conf" --protected-mode no "$@" ;;
	*) set -- redis-server --protected-mode no "$@" ;;
	esac
fi
exec "$@"
