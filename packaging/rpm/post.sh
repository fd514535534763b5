# berth %post ($1: 1 = install, 2 = upgrade). Starts berth only once the configuration
# declares at least one [services.*] table; nothing is started without a running systemd.
CONFIG=/etc/berth/berth.toml
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/berth.conf || :
else
	getent group docker >/dev/null 2>&1 || groupadd -r docker || :
	getent group berth >/dev/null 2>&1 || groupadd -r berth || :
	getent passwd berth >/dev/null 2>&1 || \
		useradd -r -g berth -d /var/lib/berth -M -s /sbin/nologin -c "berth container agent" berth || :
	usermod -a -G docker berth || :
fi
# berth.toml: 0640 root:berth (see the deb postinst).
if [ -f "$CONFIG" ] && [ "$(stat -c %G "$CONFIG")" = root ]; then
	chgrp berth "$CONFIG" || :
	chmod g+r,g-wx,o-rwx "$CONFIG" || :
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
	systemd-tmpfiles --create /usr/lib/tmpfiles.d/berth.conf || :
fi
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
	systemctl --no-reload enable berth.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	if [ -r "$CONFIG" ] && grep -Eq '^[[:space:]]*\[[[:space:]]*services\.' "$CONFIG"; then
		if [ "$1" -eq 1 ]; then
			systemctl start berth.service >/dev/null 2>&1 || :
		else
			systemctl try-restart berth.service >/dev/null 2>&1 || :
		fi
	fi
fi
