"""The blob store's root marked as a top of a directory hierarchy (ext4's FS_TOPDIR_FL, what
`chattr +T` sets), so that ext4's Orlov allocator spreads the fan-out folders made in it over
the file system's block groups as it does top-level folders, instead of packing them (and so
the blobs, whose inodes go in their folder's group) into the groups around the root's.

Why: where the file system has no journal (this project's VMs: ext4 without one), ext4 does not
reuse an inode freed less than 60 s ago (360 s while its inode table block is dirty), and finds
a free one by testing each free inode of the group in turn from the group's first
(`find_inode_bit` → `recently_deleted`, a buffer lookup each). In groups where thousands of
files were just deleted (a temporary folder's test runs, an earlier ingest's files removed),
every mkdir and create scans past all of them: 0.13-0.53 ms of system CPU per blob (its folder
and file) against 0.08-0.10 in groups that Orlov picks for top-level folders (those with more
free inodes than average). A hint only: nothing on disk but the flag changes, the blobs' names
and bytes are the same, and a file system without the flag (or a store not owned by this user)
is left as it is."""

from __future__ import annotations

import contextlib
import fcntl
import struct

_GET_FLAGS = 0x80086601  # FS_IOC_GETFLAGS
_SET_FLAGS = 0x40086602  # FS_IOC_SETFLAGS
TOPDIR = 0x00020000  # FS_TOPDIR_FL
_LONG = struct.Struct("l")


def mark_top(folder: int) -> bool:
    """Set the top-of-hierarchy flag on an open folder if it lacks it; whether it has it now
    (False where the file system has no such flags or refuses)."""
    with contextlib.suppress(OSError):
        flags = _LONG.unpack(fcntl.ioctl(folder, _GET_FLAGS, bytes(_LONG.size)))[0]
        if flags & TOPDIR:
            return True
        fcntl.ioctl(folder, _SET_FLAGS, _LONG.pack(flags | TOPDIR))
        return True
    return False
