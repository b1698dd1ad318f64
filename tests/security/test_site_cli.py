"""``edgecascade site`` on the command line: what it writes, prints, and never prints."""

from __future__ import annotations

import stat

from edgecascade.cli import main
from edgecascade.tools.site.acl import hash_password, render_acl
from edgecascade.tools.site.store import SiteFolder


def test_init_add_revoke_rotate(tmp_path, capsys) -> None:
    site = tmp_path / "site"
    assert main(["site", "init", "--dir", str(site), "--device", "cam-01", "--port", "18001",
                 "--cloud-port", "18002"]) == 0
    out = capsys.readouterr().out
    folder = SiteFolder(site)
    for name in ("gw1", "dashboard", "status", "worker1", "cam-01"):
        creds = folder.credentials(name)
        assert creds.password not in out
        assert stat.S_IMODE(folder.creds_path(name).stat().st_mode) == 0o600
    for cloud in (False, True):
        files = folder.broker(cloud)
        assert stat.S_IMODE(files.passwd.stat().st_mode) == 0o600
        conf = files.conf.read_text()
        assert "allow_anonymous false" in conf and "use_username_as_clientid true" in conf
        rules = [ln for ln in files.acl.read_text().splitlines() if not ln.startswith("#")]
        assert not any("%c" in ln or ln.startswith("pattern") for ln in rules)
    registry = (site / "site.json").read_text()
    assert all(folder.credentials(n).password not in registry for n in ("gw1", "cam-01"))

    assert main(["site", "add-device", "--dir", str(site), "cam-02", "--print"]) == 0
    shown = capsys.readouterr().out
    assert folder.credentials("cam-02").password in shown  # printed once, when asked
    assert "user cam-02" in folder.broker(False).acl.read_text()
    assert main(["site", "add-device", "--dir", str(site), "cam-02"]) == 2  # exists

    assert main(["site", "revoke-device", "--dir", str(site), "gw1"]) == 2  # not a device
    assert main(["site", "revoke-device", "--dir", str(site), "cam-02"]) == 0
    assert "cam-02" not in folder.broker(False).acl.read_text()
    assert "cam-02:" not in folder.broker(False).passwd.read_text()
    assert not folder.creds_path("cam-02").exists()

    old = folder.credentials("cam-01").password
    assert main(["site", "rotate", "--dir", str(site), "cam-01"]) == 0
    assert folder.credentials("cam-01").password != old
    assert old not in capsys.readouterr().out
    assert main(["site", "init", "--dir", str(site)]) == 2  # never over an existing site


def test_password_hash_is_mosquittos_format() -> None:
    h = hash_password("secret-pass", salt=bytes(12))
    assert h.startswith("$7$101$AAAAAAAAAAAAAAAA$") and len(h.split("$")[-1]) == 88


def test_acl_names_every_user_and_revoked_have_no_lines(tmp_path) -> None:
    from edgecascade.site import Identity, Site

    site = Site(identities=(Identity("gw1", "gateway"), Identity("a", "device"),
                            Identity("b", "device", revoked=True)))
    acl = render_acl(site, cloud=False)
    assert "user a\ntopic write ec/v1/dev/a/report" in acl and "user b" not in acl
    assert "topic read ec/v1/dev/+/report" in acl.split("user a")[0]  # the gateway's
