// SPDX-License-Identifier: GPL-2.0
//! `rexfs-fuzz`: damaged rexfs images, seeded and reproducible, for the
//! kernel module and for `fsck.rexfs`.
//!
//! It builds a populated base image offline ([`base`]), journaled and not,
//! and writes `--count` damaged copies of it ([`mutate`]): image `i` of a
//! run depends on `(seed, i)` alone. Each goes to `OUT/NNNNN.img` (a sparse
//! file), with a line in `OUT/manifest.tsv` saying what was damaged and how,
//! which errnos besides `EUCLEAN` the damage allows, and what `fsck.rexfs
//! -n` says of the image. `tests/fuzz/guest.sh` mounts, walks, writes to and
//! unmounts each in a VM; `rexfs-fuzz report` ([`report`]) classifies the
//! results and counts them by structure. `scripts/fuzz.sh` (`make fuzz`)
//! runs the whole.
//!
//! `--case NAME --out FILE` writes one named damaged image instead
//! ([`cases`]): a hand-picked damage at a known place, for tests that need
//! one (`tests/vm/damaged.sh`), with a line saying what and where.

pub mod base;
pub mod cases;
pub mod mutate;
pub mod report;
pub mod rng;

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write as _};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rexfs_fsck::{exit, Fsck};
use rexfs_mkfs::Device;

use base::{Base, Variant};
use mutate::Mutation;
use report::{ManifestLine, FSCK_PANICKED, MANIFEST_HEADER};

/// The usage text.
pub const USAGE: &str = "\
usage: rexfs-fuzz [--seed S] [--count N] [--first I] [--no-fsck] --out DIR
       rexfs-fuzz --seed S --index I --out DIR
       rexfs-fuzz --base --out DIR
       rexfs-fuzz --case NAME --out FILE
       rexfs-fuzz report --manifest FILE --results FILE [--name NAME] [--failed FILE]

Writes damaged rexfs images DIR/NNNNN.img (sparse, 16 MiB) for indices
I..I+N (default 0..60) of a run seeded with S (default 1), and
DIR/manifest.tsv: index, structure, field, mutation, crc (checksum
recomputed: yes, no, n/a), variant, location, allowed (errnos besides
EUCLEAN the damage may cause), fsck (fsck.rexfs -n exit status on the
image; panic if it panicked; - with --no-fsck). Image I depends on (S, I)
alone: --index I writes it again. --base writes the two undamaged base
images, base-journal.img and base-nojournal.img.

--case writes the named damaged image FILE (sparse, 16 MiB; the journaled
base image with one field set and its checksum recomputed) and prints one
line: NAME PATH INODE BLOCK WHAT, separated by spaces: the damaged path, the
inode whose metadata is damaged (a directory's for its block), the damaged
directory block (- if none) and what was done. The cases:

  dir-nlink-max             /dir1/sub, which holds the directory
                            /dir1/sub/sub2: its inode's nlink 3 -> 4294967295
  dirent-name-len-zero      /dir1 (entries f00..f49, medium-link, big-link,
                            sub, z in 3 blocks): in its third block, the
                            entry of /dir1/z gets name_len 0 (was 1)
  file-extent-out-of-range  /dir1/sub/deep (2 blocks): its extent starts at
                            the block count, the first block past the end

report classifies the results the guest wrote (tests/fuzz/driver.py) against
the manifest, prints counts by structure and outcome, by structure and errno,
fsck.rexfs's detection rate by structure and the failed images, and ends
with PASS fuzz/NAME or FAIL fuzz/NAME (default NAME: run); --failed writes
the failed images' indices to FILE. Exit status 0 pass, 1 fail, 2 error.";

/// The image file of index `index` in `dir`.
pub fn image_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:05}.img"))
}

/// The two base images, built once per run.
pub struct Bases {
    /// Journaled.
    pub journal: Base,
    /// Without a journal.
    pub nojournal: Base,
}

impl Bases {
    /// Builds both, formatting them in `scratch`.
    pub fn build(scratch: &Path) -> io::Result<Self> {
        Ok(Bases {
            journal: base::build(Variant::Journal, scratch)?,
            nojournal: base::build(Variant::NoJournal, scratch)?,
        })
    }

    /// Image `index` of a run seeded with `seed`, and what was done to it.
    pub fn image(&self, seed: u64, index: u64) -> (Vec<u8>, Mutation) {
        mutate::mutate(&self.journal, &self.nojournal, seed, index)
    }
}

/// `fsck.rexfs -n`'s exit status on the image at `path`, or
/// [`FSCK_PANICKED`] if the check panicked (a bug of fsck's, which the
/// manifest records instead of stopping the run).
pub fn fsck_exit(path: &Path) -> u8 {
    let check = || match Device::open(path, false).and_then(|dev| Fsck::check(&dev)) {
        Ok(fsck) => fsck.exit_code(),
        Err(_) => exit::OPERATIONAL,
    };
    panic::catch_unwind(AssertUnwindSafe(check)).unwrap_or(FSCK_PANICKED)
}

/// The manifest line of `m`, with fsck's exit status.
pub fn manifest_line(m: &Mutation, fsck: Option<u8>) -> ManifestLine {
    ManifestLine {
        index: m.index,
        structure: m.structure.name().into(),
        field: m.field.clone(),
        mutation: m.mutation.clone(),
        crc: m.crc.column().into(),
        variant: m.variant.name().into(),
        location: m.location.clone(),
        allowed: m.allowed.iter().map(|s| s.to_string()).collect(),
        fsck,
    }
}

struct Generate {
    seed: u64,
    first: u64,
    count: u64,
    fsck: bool,
    out: PathBuf,
    base: bool,
    case: Option<String>,
}

struct ReportArgs {
    manifest: PathBuf,
    results: PathBuf,
    name: String,
    failed: Option<PathBuf>,
}

enum Command {
    Generate(Generate),
    Report(ReportArgs),
    Help,
}

fn parse(args: Vec<String>) -> Result<Command, String> {
    let mut it = args.into_iter().peekable();
    if it.peek().map(String::as_str) == Some("report") {
        it.next();
        let (mut manifest, mut results, mut name, mut failed) = (None, None, None, None);
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--manifest" => manifest = Some(PathBuf::from(value()?)),
                "--results" => results = Some(PathBuf::from(value()?)),
                "--name" => name = Some(value()?),
                "--failed" => failed = Some(PathBuf::from(value()?)),
                "-h" | "--help" => return Ok(Command::Help),
                _ => return Err(format!("unknown argument {arg}")),
            }
        }
        return Ok(Command::Report(ReportArgs {
            manifest: manifest.ok_or("report needs --manifest")?,
            results: results.ok_or("report needs --results")?,
            name: name.unwrap_or_else(|| "run".into()),
            failed,
        }));
    }
    let mut g = Generate {
        seed: 1,
        first: 0,
        count: 60,
        fsck: true,
        out: PathBuf::new(),
        base: false,
        case: None,
    };
    let number = |v: String, what: &str| {
        v.parse::<u64>()
            .map_err(|_| format!("{what}: a number expected, got {v}"))
    };
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--seed" => g.seed = number(value()?, "--seed")?,
            "--count" => g.count = number(value()?, "--count")?,
            "--first" => g.first = number(value()?, "--first")?,
            "--index" => {
                g.first = number(value()?, "--index")?;
                g.count = 1;
            }
            "--out" => g.out = PathBuf::from(value()?),
            "--no-fsck" => g.fsck = false,
            "--base" => g.base = true,
            "--case" => g.case = Some(value()?),
            "-h" | "--help" => return Ok(Command::Help),
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    if g.out.as_os_str().is_empty() {
        return Err("--out DIR is needed".into());
    }
    if let Some(name) = &g.case {
        if cases::find(name).is_none() {
            let names: Vec<&str> = cases::CASES.iter().map(|c| c.name).collect();
            return Err(format!("unknown case {name} (cases: {})", names.join(", ")));
        }
        if g.base {
            return Err("--case and --base exclude each other".into());
        }
    }
    Ok(Command::Generate(g))
}

/// Writes the image of case `name` to `out`, made in `out`'s directory;
/// prints its line.
fn write_case(name: &str, out: &Path) -> io::Result<()> {
    let case = cases::find(name).expect("checked by parse");
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let base = base::build(Variant::Journal, dir)?;
    let (bytes, damage) = case.image(&base).map_err(io::Error::other)?;
    base::write_sparse(&bytes, out)?;
    println!("{}", damage.line(case.name));
    Ok(())
}

fn generate(g: &Generate) -> io::Result<()> {
    if let Some(name) = &g.case {
        return write_case(name, &g.out);
    }
    fs::create_dir_all(&g.out)?;
    let bases = Bases::build(&g.out)?;
    if g.base {
        for b in [&bases.journal, &bases.nojournal] {
            let path = g.out.join(format!("base-{}.img", b.variant.name()));
            base::write_sparse(&b.bytes, &path)?;
            println!(
                "{}: fsck.rexfs -n exit {}",
                path.display(),
                fsck_exit(&path)
            );
        }
        return Ok(());
    }
    // A panic of fsck's is reported in a line, with its place.
    panic::set_hook(Box::new(|info| {
        eprintln!("rexfs-fuzz: fsck.rexfs panicked: {info}")
    }));
    let mut manifest = io::BufWriter::new(fs::File::create(g.out.join("manifest.tsv"))?);
    writeln!(manifest, "{MANIFEST_HEADER}")?;
    for index in g.first..g.first + g.count {
        let (bytes, m) = bases.image(g.seed, index);
        let path = image_path(&g.out, index);
        base::write_sparse(&bytes, &path)?;
        let fsck = g.fsck.then(|| fsck_exit(&path));
        if fsck == Some(FSCK_PANICKED) {
            eprintln!("rexfs-fuzz: (on image {index})");
        }
        writeln!(manifest, "{}", manifest_line(&m, fsck).to_tsv())?;
    }
    manifest.flush()?;
    println!(
        "rexfs-fuzz: images {}..{} of seed {} in {}",
        g.first,
        g.first + g.count,
        g.seed,
        g.out.display()
    );
    Ok(())
}

fn run_report(r: &ReportArgs) -> io::Result<bool> {
    let manifest = report::read_manifest(&r.manifest)?;
    // No results at all (the guest never ran) is a report of every image
    // not run.
    let results = match report::read_results(&r.results) {
        Ok(results) => results,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let rep = report::report(&manifest, &results, &r.name);
    print!("{}", rep.text);
    if let Some(path) = &r.failed {
        let list: String = rep.failed.iter().map(|i| format!("{i}\n")).collect();
        fs::write(path, list)?;
    }
    Ok(rep.passed)
}

/// Runs `rexfs-fuzz` with the command line `args` (without the program
/// name); returns the exit status.
pub fn cli(args: impl IntoIterator<Item = OsString>) -> u8 {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match parse(args) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            0
        }
        Ok(Command::Generate(g)) => match generate(&g) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("rexfs-fuzz: {e}");
                2
            }
        },
        Ok(Command::Report(r)) => match run_report(&r) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("rexfs-fuzz: {e}");
                2
            }
        },
        Err(msg) => {
            eprintln!("rexfs-fuzz: {msg}\n{USAGE}");
            2
        }
    }
}
