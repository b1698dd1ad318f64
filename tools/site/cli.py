"""``edgecascade site``: make a secured site and manage who is on it.

    edgecascade site init --dir site [--host broker.lan] [--gateway-id gw1]
    edgecascade site add-device --dir site dev-007 [--print]
    edgecascade site revoke-device --dir site dev-007
    edgecascade site rotate --dir site gw1
    edgecascade site start --dir site         # run both brokers with the shipped configs

Secrets go to ``<site>/creds/<name>.json`` (0600); ``--print`` shows one once on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgecascade.protocol.topics import DEFAULT_PREFIX
from edgecascade.site import Identity, Site, SiteError

from .store import Credentials, Layout, SiteFolder


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "site", help="make a secured site (CA, broker configs, identities) and manage devices",
        description="Generate mosquitto 2 configs with TLS, no anonymous access and "
        "per-identity ACLs, a site CA, and credentials for the gateway, dashboards, workers "
        "and devices. Credentials are written to <dir>/creds/<name>.json (mode 0600).")
    s = p.add_subparsers(dest="site_command", metavar="<action>", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--dir", type=Path, default=Path("site"), help="the site folder")
        q.add_argument("--no-reload", action="store_true",
                       help="do not SIGHUP running brokers after the change")

    init = s.add_parser("init", help="make the site folder, CA, broker configs, identities",
                        description="make the site folder, CA, broker configs, identities")
    common(init)
    init.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix")
    init.add_argument("--gateway-id", default="gw1", help="the gateway's id and username")
    init.add_argument("--dashboard", action="append", default=None,
                      help="a read-only dashboard identity (repeatable; default 'dashboard')")
    init.add_argument("--worker", action="append", default=None,
                      help="a cloud worker identity (repeatable; default 'worker1')")
    init.add_argument("--device", action="append", default=[], help="a device id (repeatable)")
    init.add_argument("--status-id", default="status",
                      help="the identity `edgecascade status --creds` reads device states "
                           "with (a dashboard; never the gateway's: see docs/security.md)")
    init.add_argument("--maintainer-id", default="maintainer",
                      help="the identity `edgecascade site retire-device --creds` clears "
                           "retained topics with (write-only, on those topics alone)")
    init.add_argument("--host", action="append", default=None,
                      help="a name or address clients use for the brokers (repeatable; "
                      "default localhost and 127.0.0.1)")
    init.add_argument("--port", type=int, default=8883, help="site broker TLS port")
    init.add_argument("--cloud-port", type=int, default=8884, help="cloud broker TLS port")
    init.add_argument("--bind", default="0.0.0.0", help="address the brokers listen on")
    init.add_argument("--broker-user", default=None,
                      help="the OS user mosquitto runs as (written as its `user` option)")
    init.set_defaults(func=cmd_init)
    for name, role, what in (("add-device", "device", "a device"),
                             ("add-dashboard", "dashboard", "a read-only dashboard"),
                             ("add-monitor", "monitor", "a read-only monitor that sees frames"),
                             ("add-maintainer", "maintainer",
                              "a maintainer (clears retired devices' retained topics)"),
                             ("add-worker", "worker", "a cloud worker")):
        q = s.add_parser(name, help=f"add {what} and write its credentials",
                         description=f"add {what} and write its credentials")
        common(q)
        q.add_argument("name", help="its id (the broker username)")
        q.add_argument("--print", action="store_true",
                       help="also print the credentials once on stdout (for provisioning)")
        q.set_defaults(func=cmd_add, role=role)
    for name, what in (("revoke-device", "a device"), ("revoke", "any identity")):
        q = s.add_parser(name, help=f"revoke {what}: refused at its next connect",
                         description=f"revoke {what}: refused at its next connect")
        common(q)
        q.add_argument("name")
        q.set_defaults(func=cmd_revoke, only_device=name == "revoke-device")
    rot = s.add_parser("rotate", help="issue a new password for an identity (old one dies)",
                       description="issue a new password for an identity (old one dies)")
    common(rot)
    rot.add_argument("name")
    rot.add_argument("--print", action="store_true", help="also print the new credentials")
    rot.set_defaults(func=cmd_rotate)
    start = s.add_parser("start", help="run the site and cloud brokers with the site configs",
                         description="run the site and cloud brokers with the site configs")
    start.add_argument("--dir", type=Path, default=Path("site"), help="the site folder")
    start.set_defaults(func=cmd_start)
    from .retire import add_parsers as add_retire  # retire-device, retire-gateway

    add_retire(s)


def _fail(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def _say(creds: Credentials, folder: SiteFolder, show: bool) -> None:
    print(f"{creds.role} {creds.name}: credentials in {folder.creds_path(creds.name)}")
    if show:
        print(json.dumps(asdict(creds), indent=2))


def _reloaded(folder: SiteFolder, args: argparse.Namespace) -> None:
    if not args.no_reload and folder.reload():
        print("running brokers reloaded (new connections use the new identities)")


def cmd_init(args: argparse.Namespace) -> int:
    idents = [Identity(args.gateway_id, "gateway"),
              *(Identity(n, "dashboard") for n in args.dashboard or ["dashboard"]),
              Identity(args.status_id, "dashboard"),  # `edgecascade status --creds`
              Identity(args.maintainer_id, "maintainer"),  # `site retire-device --creds`
              *(Identity(n, "worker") for n in args.worker or ["worker1"]),
              *(Identity(n, "device") for n in args.device)]
    user = args.broker_user or ("root" if os.geteuid() == 0 else None)
    try:
        site = Site(prefix=args.prefix, gateway_id=args.gateway_id, identities=tuple(idents))
        folder = SiteFolder(args.dir)
        issued = folder.init(site, Layout(hosts=tuple(args.host or ("localhost", "127.0.0.1")),
                                          site_port=args.port, cloud_port=args.cloud_port,
                                          bind=args.bind, broker_user=user))
    except (SiteError, OSError) as exc:
        return _fail(exc)
    print(f"site in {folder.folder}: CA {folder.ca_crt}")
    for cloud in (False, True):
        print(f"{'cloud' if cloud else 'site'} broker: mosquitto -c {folder.broker(cloud).conf}")
    for creds in issued:
        _say(creds, folder, False)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    folder = SiteFolder(args.dir)
    try:
        creds = folder.add(args.name, args.role)
    except (SiteError, OSError) as exc:
        return _fail(exc)
    _say(creds, folder, args.print)
    _reloaded(folder, args)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    folder = SiteFolder(args.dir)
    try:
        ident = folder.site().get(args.name)
        if args.only_device and ident is not None and ident.role != "device":
            raise SiteError(f"{args.name!r} is a {ident.role}, not a device (use `site revoke`)")
        folder.revoke(args.name)
    except (SiteError, OSError) as exc:
        return _fail(exc)
    print(f"{args.name} revoked")
    _reloaded(folder, args)
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    folder = SiteFolder(args.dir)
    try:
        creds = folder.rotate(args.name)
    except (SiteError, OSError) as exc:
        return _fail(exc)
    _say(creds, folder, args.print)
    _reloaded(folder, args)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    from .broker import SiteBrokers

    brokers = SiteBrokers(SiteFolder(args.dir))
    try:
        brokers.start()
        print(f"site broker {brokers.site_url}, cloud broker {brokers.cloud_url}; Ctrl-C stops")
        brokers.wait()
    except KeyboardInterrupt:
        pass
    finally:
        brokers.stop()
    return 0
