// SPDX-License-Identifier: GPL-2.0
//! Short-option parsing in the manner of POSIX `getopt`.
//!
//! Options may be clustered (`-qf`), values may be attached (`-Lfoo`) or
//! given as the next word (`-L foo`), operands may come between options, and
//! `--` ends the options. Which letters are valid is up to the caller.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// One parsed command-line element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// An option without a value.
    Flag(u8),
    /// An option with its value.
    Value(u8, OsString),
    /// A word that is not an option.
    Operand(OsString),
}

/// Iterator over the [`Arg`]s of a command line; yields an error message for
/// an option missing its value.
pub struct Getopt<I> {
    args: I,
    with_value: &'static [u8],
    /// Letters of the option cluster being parsed.
    cluster: VecDeque<u8>,
    operands_only: bool,
}

impl<I: Iterator<Item = OsString>> Getopt<I> {
    /// Parses `args` (without the program name); the letters in `with_value`
    /// take a value.
    pub fn new(args: impl IntoIterator<IntoIter = I>, with_value: &'static [u8]) -> Self {
        Getopt {
            args: args.into_iter(),
            with_value,
            cluster: VecDeque::new(),
            operands_only: false,
        }
    }
}

impl<I: Iterator<Item = OsString>> Iterator for Getopt<I> {
    type Item = Result<Arg, String>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.cluster.is_empty() {
            let arg = self.args.next()?;
            let bytes = arg.as_bytes();
            if self.operands_only || bytes.len() < 2 || bytes[0] != b'-' {
                return Some(Ok(Arg::Operand(arg)));
            }
            if bytes == b"--" {
                self.operands_only = true;
            } else {
                self.cluster.extend(&bytes[1..]);
            }
        }
        let letter = self.cluster.pop_front()?;
        if !self.with_value.contains(&letter) {
            return Some(Ok(Arg::Flag(letter)));
        }
        let value = if self.cluster.is_empty() {
            let Some(value) = self.args.next() else {
                let letter = letter.escape_ascii();
                return Some(Err(format!("option requires an argument -- '{letter}'")));
            };
            value
        } else {
            OsString::from_vec(self.cluster.drain(..).collect())
        };
        Some(Ok(Arg::Value(letter, value)))
    }
}

/// Splits the value of an option made of comma-separated suboptions, as
/// `getsubopt(3)` does (`-J size=64`, `-J none`), into names and their
/// values; empty suboptions are skipped.
pub fn suboptions(value: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    value
        .split(',')
        .filter(|sub| !sub.is_empty())
        .map(|sub| match sub.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (sub, None),
        })
}

/// The message for an option letter the program does not know.
pub fn invalid_option(letter: u8) -> String {
    format!("invalid option -- '{}'", letter.escape_ascii())
}

/// The device operand of a tool that takes exactly one.
pub fn device_operand(mut operands: Vec<OsString>) -> Result<PathBuf, String> {
    match operands.len() {
        0 => Err("no device given".into()),
        1 => Ok(operands.remove(0).into()),
        _ => Err("more than one device given".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Vec<Result<Arg, String>> {
        Getopt::new(args.iter().map(OsString::from), b"LN").collect()
    }

    #[test]
    fn clusters_values_and_operands() {
        let v = |s: &str| OsString::from(s);
        assert_eq!(
            parse(&["-qf", "-Lname", "dev", "-N", "32", "--", "-x"]),
            [
                Ok(Arg::Flag(b'q')),
                Ok(Arg::Flag(b'f')),
                Ok(Arg::Value(b'L', v("name"))),
                Ok(Arg::Operand(v("dev"))),
                Ok(Arg::Value(b'N', v("32"))),
                Ok(Arg::Operand(v("-x"))),
            ]
        );
        assert_eq!(
            parse(&["-", "-qL", ""]),
            [
                Ok(Arg::Operand(v("-"))),
                Ok(Arg::Flag(b'q')),
                Ok(Arg::Value(b'L', v(""))),
            ]
        );
    }

    #[test]
    fn missing_value() {
        assert_eq!(
            parse(&["-qN"]),
            [
                Ok(Arg::Flag(b'q')),
                Err("option requires an argument -- 'N'".into())
            ]
        );
    }

    #[test]
    fn suboption_lists() {
        let subs = |s| suboptions(s).collect::<Vec<_>>();
        assert_eq!(subs("none"), [("none", None)]);
        assert_eq!(subs("size=64"), [("size", Some("64"))]);
        assert_eq!(
            subs("size=,,a=b=c,x"),
            [("size", Some("")), ("a", Some("b=c")), ("x", None)]
        );
        assert!(subs("").is_empty());
    }

    #[test]
    fn one_device() {
        assert!(device_operand(vec![]).is_err());
        assert!(device_operand(vec!["a".into(), "b".into()]).is_err());
        assert_eq!(device_operand(vec!["a".into()]), Ok(PathBuf::from("a")));
    }
}
