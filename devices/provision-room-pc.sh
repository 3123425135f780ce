#!/usr/bin/env bash
# Turn a fresh Debian PC into a consultation room. Run as root:
#   sudo ./devices/provision-room-pc.sh "Beratungsraum 2"
# It installs the packages, the kiosk user, the software in /opt/kiosk, the room's
# config and device keys in /var/lib/kiosk, the udev rule and the systemd units,
# then checks the hardware with `kiosk devices check`.
set -euo pipefail
room="${1:?usage: provision-room-pc.sh ROOM-NAME}"
here="$(cd "$(dirname "$0")/.." && pwd)"

apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  python3 python3-venv chromium x11-xserver-utils unclutter alsa-utils v4l-utils

id kiosk >/dev/null 2>&1 || useradd --system --create-home --groups video,audio kiosk
install -d -o kiosk -g kiosk -m 0750 /var/lib/kiosk
install -d -m 0755 /opt/kiosk /etc/kiosk

cp -a "$here/." /opt/kiosk/
python3 -m venv /opt/kiosk/.venv
/opt/kiosk/.venv/bin/pip install -q /opt/kiosk

if [ ! -f /var/lib/kiosk/room.toml ]; then
  sudo -u kiosk /opt/kiosk/.venv/bin/kiosk devices init --room "$room" --data-dir /var/lib/kiosk
fi
# The bus's CURVE keys: made once, kept across updates (only what is missing is made).
sudo -u kiosk /opt/kiosk/.venv/bin/kiosk keys init --data-dir /var/lib/kiosk

install -m 0644 "$here/devices/70-kiosk-camera.rules" /etc/udev/rules.d/
udevadm control --reload && udevadm trigger --subsystem-match=video4linux || true
install -m 0644 "$here/devices/kiosk.service" "$here/devices/kiosk-browser@.service" \
  "$here/devices/kiosk-agent.service" "$here/devices/unclutter.service" /etc/systemd/system/
install -m 0644 "$here/devices/browser-kiosk.env" "$here/devices/browser-display.env" /etc/kiosk/
systemctl daemon-reload
systemctl enable --now kiosk.service kiosk-agent.service
systemctl enable kiosk-browser@kiosk.service kiosk-browser@display.service unclutter.service

sudo -u kiosk /opt/kiosk/.venv/bin/kiosk devices scan
echo "Create the staff's sign-ins (the first facility account, then the counsellors):"
echo "  sudo -u kiosk /opt/kiosk/.venv/bin/kiosk staff add NAME --role admin --data-dir /var/lib/kiosk"
echo "Assign the devices to their roles, e.g.:"
echo "  sudo -u kiosk /opt/kiosk/.venv/bin/kiosk devices scan --data-dir /var/lib/kiosk \\"
echo "    --assign camera=/dev/kiosk-camera --assign kiosk-screen=card0-HDMI-A-1 \\"
echo "    --assign second-display=card0-DP-1 --assign touch=event5"
sudo -u kiosk /opt/kiosk/.venv/bin/kiosk devices check --data-dir /var/lib/kiosk
