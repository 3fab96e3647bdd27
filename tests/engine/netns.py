"""A network namespace joined to the root namespace by a veth pair: the
test host the engine tests talk to. Shared by test_engine_tls.py,
test_engine_ping.py, test_gen.py and test_engine_jumbo.py.

Offloads are turned off on both ends: net_af_packet must see frames that
fit the MTU with full checksums, as a wire would carry them.
"""
import subprocess


def sh(cmd, check=True, timeout=30):
    """Runs a shell command; raises RuntimeError with its stderr when
    `check` and it fails."""
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr.strip()}")
    return r


def add_namespace(ns):
    """Creates `ns`; False when this machine cannot (the test skips)."""
    try:
        sh(f"ip netns add {ns}")
        return True
    except RuntimeError as e:
        print(f"skipped: cannot create a namespace ({e})")
        return False


def join_with_veth(ns, host_if, ns_if, ns_addrs=()):
    """Creates the veth pair host_if <-> ns_if, moves ns_if into `ns`,
    brings both up (and lo in `ns`), gives ns_if each of `ns_addrs`
    ("198.18.0.1/24", "2001:2::1/64", ...) and turns offloads off."""
    nsx = f"ip netns exec {ns} "
    cmds = [f"ip link add {host_if} type veth peer name {ns_if}",
            f"ip link set {ns_if} netns {ns}",
            f"ip link set {host_if} up",
            nsx + "ip link set lo up"]
    for a in ns_addrs:
        six = " -6" if ":" in a else ""
        dad = " nodad" if six else ""
        cmds.append(nsx + f"ip{six} addr add {a} dev {ns_if}{dad}")
    cmds.append(nsx + f"ip link set {ns_if} up")
    for cmd in cmds:
        sh(cmd)
    sh(f"ethtool -K {host_if} tso off gso off gro off tx off", False)
    sh(nsx + f"ethtool -K {ns_if} tso off gso off gro off tx off", False)


def remove(ns, host_if):
    """Deletes the namespace (and with it the veth pair)."""
    sh(f"ip netns del {ns}", False)
    sh(f"ip link del {host_if}", False)
