"""A lease refusal means "open for writing" only on a file system that keeps leases itself (RV9 #3).

On a CIFS/SMB mount the kernel refuses a read lease (EAGAIN) whenever the server granted no read
oplock, whoever writes; NFS and FUSE do not see the other machine's writers. Trusting such a
refusal held every file in the inbox forever. The inbox's file-system type is found once a night
in /proc/self/mounts (the mount with the longest point that holds its real path); only
pilots.inbox.LEASE_FILE_SYSTEMS are trusted, elsewhere the check is "unknown" (warned once, the
settle time guards).

Whole flow: the scenario of tests/test_inbox_writing.py (PLT-2548-003, lead 03009, 2549-Q1..Q3 as
of 2006-08-15), every lease refused with EAGAIN as on CIFS without an oplock. Expected 2549-Q3, by
hand in that file's doc (scoring.md sections 1, 2, 6): K3 sum 4758, s = 3.1720; composite 3.2600
on_target.
"""
from __future__ import annotations

import errno
from decimal import Decimal
from pathlib import Path

import pytest

from pilots import inbox as inbox_module
from pilots.inbox import file_system_type, lease_untold
from tests.test_inbox_writing import Q3, Q3_NAME, _night, _q3, _scenario
from tests.test_trust_log_names import records  # noqa: F401 - a fixture: the night's log lines

MOUNTS = "\n".join([
    "/dev/vda / ext4 rw,relatime 0 0",
    "proc /proc proc rw 0 0",
    "//nas/agencies /srv/inbox cifs rw,vers=3.0 0 0",
    "/dev/vdb /srv/inbox/local xfs rw 0 0",
    r"nas:/exports/in\040box /srv/in\040box nfs4 rw 0 0",
    "overlay /srv/container overlay rw,lowerdir=/a,upperdir=/b,workdir=/c 0 0",
    "//nas/old /srv/stacked cifs rw 0 0",
    "/dev/vdc /srv/stacked ext4 rw 0 0",  # mounted over the cifs one: the later line is what is seen
    "sshfs#me@host: /srv/fuse fuse.sshfs rw 0 0",
    "",
])


def test_the_file_system_is_the_longest_mount_point_that_holds_the_path():
    assert file_system_type("/srv/inbox", MOUNTS) == "cifs"
    assert file_system_type("/srv/inbox/report.csv", MOUNTS) == "cifs"
    assert file_system_type("/srv/inbox/local/report.csv", MOUNTS) == "xfs"
    assert file_system_type("/srv/inboxes/report.csv", MOUNTS) == "ext4"  # a prefix, not a parent folder
    assert file_system_type("/srv/in box/a.csv", MOUNTS) == "nfs4"  # \040 is a space
    assert file_system_type("/srv/container/inbox", MOUNTS) == "overlay"
    assert file_system_type("/srv/stacked/inbox", MOUNTS) == "ext4"
    assert file_system_type("/srv/fuse/inbox", MOUNTS) == "fuse.sshfs"
    assert file_system_type("/srv/inbox", "") is None


def test_the_real_path_decides(tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    (tmp_path / "inbox").symlink_to(share)  # the configured inbox is a link to the mounted share
    mounts = f"/dev/vda / ext4 rw 0 0\n//nas/x {share.resolve()} cifs rw 0 0\n"
    assert file_system_type(tmp_path / "inbox", mounts) == "cifs"


@pytest.mark.parametrize("folder, trusted", [
    ("/srv/inbox/local", True), ("/srv/container", True), ("/srv/stacked", True), ("/", True),
    ("/srv/inbox", False), ("/srv/in box", False), ("/srv/fuse", False)])
def test_a_refusal_is_trusted_only_on_a_local_lease_file_system(folder, trusted):
    why = lease_untold(folder, MOUNTS)
    assert (why is None) == trusted
    if not trusted:
        assert file_system_type(folder, MOUNTS) in why
    assert "unknown" in lease_untold("/srv", "")


class _Refused:
    """fcntl.fcntl as on a CIFS mount without a read oplock: every lease refused with EAGAIN."""

    def __init__(self, real):
        self.real, self.asked = real, 0

    def __call__(self, fd, cmd, arg=0):
        if cmd == inbox_module._SETLEASE:
            self.asked += 1
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        return self.real(fd, cmd, arg)


def _mounts_file(root: Path, inbox: Path, kind: str) -> Path:
    path = root / "mounts"
    path.write_text(f"/dev/vda / ext4 rw 0 0\n//nas/agencies {inbox.resolve()} {kind} rw 0 0\n", encoding="utf-8")
    return path


def test_eagain_on_an_untrusted_file_system_is_unknown_and_the_night_reads_the_files(tmp_path, prefect_harness,
                                                                                     monkeypatch, records):  # noqa: F811
    registry, inbox = _scenario(tmp_path)
    (inbox / Q3_NAME).write_bytes(Q3)
    refused = _Refused(inbox_module.fcntl.fcntl)
    monkeypatch.setattr(inbox_module.fcntl, "fcntl", refused)
    monkeypatch.setattr(inbox_module, "MOUNTS", str(_mounts_file(tmp_path, inbox, "cifs")))
    code, out = _night(registry, inbox, tmp_path, settle="0")
    assert code == 0, out
    # Before: "files seen 0" and all three "left for the next run, still being written", every night.
    assert "files seen 3: accepted 3, superseded 0, duplicates 0, quarantined 0" in out, out
    assert "still being written" not in out
    warned = [line for line in records if "could not tell whether" in line]
    assert len(warned) == 1 and "could not tell whether 3 file(s)" in warned[0] and "cifs" in warned[0], records
    assert refused.asked == 0  # not asked: its answer would not be trusted
    assert (inbox / "processed" / Q3_NAME).read_bytes() == Q3
    q3 = _q3(tmp_path)
    assert q3["k3"] == [(Decimal("4758"), Decimal("3.1720"))], q3
    assert q3["scores"] == [(Decimal("3.2600"), "on_target")], q3


def test_eagain_on_a_local_file_system_still_holds_the_file(tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / Q3_NAME).write_bytes(Q3)
    monkeypatch.setattr(inbox_module.fcntl, "fcntl", _Refused(inbox_module.fcntl.fcntl))
    monkeypatch.setattr(inbox_module, "MOUNTS", str(_mounts_file(tmp_path, inbox, "ext4")))
    writing, unchecked = [], []
    got = inbox_module.receive([inbox / Q3_NAME], tmp_path / "evidence", writing=writing, unchecked=unchecked)
    assert got == [] and writing == [inbox / Q3_NAME] and unchecked == []
