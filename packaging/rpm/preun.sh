# berth %preun ($1: 0 = removal, 1 = upgrade): stop and disable on removal.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
	systemctl --no-reload disable berth.service >/dev/null 2>&1 || :
	if [ -d /run/systemd/system ]; then
		systemctl stop berth.service >/dev/null 2>&1 || :
	fi
fi
