# berth %postun ($1: 0 = removal, 1 = upgrade).
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
