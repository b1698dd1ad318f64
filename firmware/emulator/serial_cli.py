"""Board tools on the command line: ``provision-device``, ``flash``, ``serial-device``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from edgecascade.lifecycle import stop_signals


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "provision-device", help="write Wi-Fi/broker/device-id settings to a board over serial",
        description="Send EC SET/COMMIT lines to a board's provisioning console over its USB "
        "serial port, verify each value and commit. Exit 0 when committed, 1 when the board "
        "refused a value, 2 when the port cannot be opened or nothing was given to set.")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=int, default=115200, help="serial line speed")
    p.add_argument("--device-id", help="device id (also its MQTT client id)")
    p.add_argument("--broker-url", help="site broker URL the board connects to")
    p.add_argument("--wifi-ssid", help="Wi-Fi network name")
    p.add_argument("--wifi-pass", default=os.environ.get("EC_WIFI_PASS"),
                   help="Wi-Fi password (default: $EC_WIFI_PASS)")
    p.add_argument("--conf-threshold", help="device confidence threshold (0..1)")
    p.add_argument("--margin-threshold", help="device top-1/top-2 margin threshold (0..1)")
    p.add_argument("--complexity-limit", help="frame complexity above which it escalates")
    p.add_argument("--site-creds", type=Path, metavar="FILE",
                   help="a device's credentials from `edgecascade site add-device` "
                   "(device id, broker URL, username, password and site CA)")
    p.add_argument("--reboot", action="store_true", help="reboot the board when done")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="seconds to wait per answer")
    p.set_defaults(func=run_provision)

    f = sub.add_parser(
        "flash", help="write bootloader, partition table and app with esptool "
                      "(board settings in NVS are kept)",
        description="Write the bootloader, the partition table and the app, each at its own "
        "offset (from an ESP-IDF build dir, or from the three files), with esptool; the "
        "board's settings in NVS are never written unless --erase-settings is given. Exit 2 "
        "when the inputs are missing or inconsistent.")
    f.add_argument("--build-dir", type=Path, help="ESP-IDF build dir (has flasher_args.json)")
    f.add_argument("--chip", help="esp32s3, esp32, ... (default: from the build dir)")
    f.add_argument("--bootloader", type=Path, help="bootloader .bin (without --build-dir)")
    f.add_argument("--partitions", type=Path, help="partition table .bin (without --build-dir)")
    f.add_argument("--app", type=Path, help="application .bin (without --build-dir)")
    f.add_argument("--app-offset", type=lambda s: int(s, 0), default=None, metavar="ADDR",
                   help="flash offset of the app (default: the partition table's boot app "
                        "partition)")
    f.add_argument("--merged", type=Path,
                   help="also write one merged image here (factory programming only)")
    f.add_argument("--erase-settings", action="store_true",
                   help="also erase NVS: Wi-Fi, broker, device id and the epoch counter")
    f.add_argument("--port", help="serial port of the board")
    f.add_argument("--baud", type=int, default=460800, help="esptool write speed")
    f.add_argument("--flash-mode", default=None, help="dio, qio... (default: from the build)")
    f.add_argument("--flash-size", default=None, help="4MB, 8MB... (default: from the build)")
    f.add_argument("--flash-freq", default=None, help="40m, 80m... (default: from the build)")
    f.add_argument("--dry-run", action="store_true", help="merge and print, do not write")
    f.set_defaults(func=run_flash)

    s = sub.add_parser(
        "serial-device", help="one emulated device in serial mode on a new pseudo-terminal",
        description="An emulated board that writes framed reports to a new pseudo-terminal "
        "(and answers the provisioning console there), for trying serial-bridge and "
        "provision-device without hardware. Stops on SIGTERM or Ctrl-C with exit 0.")
    s.add_argument("--rate", type=float, default=1.0, help="reports per second")
    s.add_argument("--link", type=Path, help="also make this symlink to the pty")
    s.add_argument("--storage", type=Path, help="settings file (EC COMMIT writes it)")
    s.add_argument("--device-id", default="emu-serial", help="device id until provisioned")
    s.set_defaults(func=run_serial_device)


def run_provision(args: argparse.Namespace) -> int:
    import serial

    from .provision import ProvisionError, provision, site_values

    try:
        values = site_values(args.site_creds) if args.site_creds else {}
    except ProvisionError as exc:
        print(f"provision-device: {exc}", file=sys.stderr)
        return 2
    values.update({key: getattr(args, key) for key in (
        "wifi_ssid", "wifi_pass", "broker_url", "device_id",
        "conf_threshold", "margin_threshold", "complexity_limit")
        if getattr(args, key) is not None})
    if not values:
        print("provision-device: nothing to set", file=sys.stderr)
        return 2
    try:
        port = serial.serial_for_url(args.port, baudrate=args.baud, timeout=0.1)
    except (serial.SerialException, OSError) as exc:
        print(f"provision-device: cannot open {args.port}: {exc}", file=sys.stderr)
        return 2
    try:
        outcome = provision(port, values, reboot=args.reboot, timeout=args.timeout)
    except ProvisionError as exc:
        print(f"provision-device: {exc}", file=sys.stderr)
        return 1
    finally:
        port.close()
    print(f"device firmware {outcome.fw_version}, was {outcome.previous_id or '-'}")
    for err in outcome.errors:
        print(f"  rejected: {err}", file=sys.stderr)
    for key, value in outcome.verified.items():
        print(f"  {key} = {value}")
    print("committed" if outcome.ok else "NOT committed")
    return 0 if outcome.ok else 1


def run_flash(args: argparse.Namespace) -> int:
    from .flash import FlashError, plan_from_build, plan_from_files, run_plan

    extra: dict[str, Any] = {
        k: v for k, v in (("flash_mode", args.flash_mode), ("flash_size", args.flash_size),
                          ("flash_freq", args.flash_freq)) if v is not None}
    extra.update(merged=args.merged, erase_settings=args.erase_settings)
    try:
        if args.build_dir is not None:
            plan = plan_from_build(args.build_dir, chip=args.chip, port=args.port,
                                   baud=args.baud, **extra)
        elif args.bootloader and args.partitions and args.app:
            plan = plan_from_files(args.chip or "esp32s3", args.bootloader, args.partitions,
                                   args.app, app_offset=args.app_offset, port=args.port,
                                   baud=args.baud, **extra)
        else:
            print("flash: give --build-dir, or --bootloader, --partitions and --app",
                  file=sys.stderr)
            return 2
        return run_plan(plan, dry_run=args.dry_run)
    except FlashError as exc:
        print(f"flash: {exc}", file=sys.stderr)
        return 2


def run_serial_device(args: argparse.Namespace) -> int:
    from .model import FrameSource
    from .serial_device import PtyPair, SerialDevice

    pty = PtyPair(args.link).plug()
    device = SerialDevice(pty.master, FrameSource(), rate=args.rate, storage=args.storage,
                          default_device_id=args.device_id).start()
    print(f"serial device on {pty.path}", flush=True)
    with stop_signals() as done:
        done.wait()
    device.stop()
    pty.unplug()
    print(f"made={device.stats.made} written={device.stats.written} "
          f"dropped={device.stats.dropped}")
    return 0
