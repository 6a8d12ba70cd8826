"""Helpers shared by nfield's peer scripts: the record fields every benchmark line carries."""
import datetime, os, platform, sys


def cpu_name():
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def common_fields(engine, commit, threads):
    """engine, device, commit, date and the command line of this run."""
    return dict(engine=engine, device=f"{cpu_name()} ({threads} threads)", commit=commit,
                date=datetime.date.today().isoformat(), command=" ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]))
