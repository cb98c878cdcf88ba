//! Names from the `name` custom section, for backtraces and profilers.

use crate::index::FuncIndex;

/// The module's name and its functions' names. The function names share one buffer,
/// indexed by a table sorted by function index: a module with 100,000 named functions
/// holds three allocations, not 100,000, and is cheap to copy, store and load. Each
/// name is checked to be UTF-8 when it is read (a loaded artifact's names are copied,
/// not validated: most are never read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// The module's name.
    pub module: Option<String>,
    /// Every function name, one after another.
    text: Vec<u8>,
    /// `(function, start, end)`: the name of `function` is `text[start..end]`. Sorted
    /// by function, each function at most once.
    funcs: Vec<(FuncIndex, u32, u32)>,
}

/// Why a names table cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadNames(pub &'static str);

impl Names {
    /// Names for `funcs` (in any order; for a function named twice, the last name wins).
    pub fn new<'a>(
        module: Option<String>,
        funcs: impl IntoIterator<Item = (FuncIndex, &'a str)>,
    ) -> Names {
        let mut named: Vec<(FuncIndex, &str)> = funcs.into_iter().collect();
        // Stable: among equal indices, the last given stays last.
        named.sort_by_key(|&(f, _)| f);
        let mut text = Vec::new();
        let mut table: Vec<(FuncIndex, u32, u32)> = Vec::with_capacity(named.len());
        for (f, name) in named {
            if table.last().is_some_and(|&(g, _, _)| g == f) {
                table.pop();
            }
            // Names past 4 GiB in all cannot come from a module Kiln accepts.
            let (Ok(start), Ok(end)) = (
                u32::try_from(text.len()),
                u32::try_from(text.len() + name.len()),
            ) else {
                break;
            };
            text.extend_from_slice(name.as_bytes());
            table.push((f, start, end));
        }
        Names {
            module,
            text,
            funcs: table,
        }
    }

    /// Names from their parts as [`Names::parts`] gives them, checked: every range lies
    /// within `text`, and functions are strictly increasing. (Whether each name is UTF-8
    /// is checked when it is read.)
    pub fn from_parts(
        module: Option<String>,
        text: Vec<u8>,
        funcs: Vec<(FuncIndex, u32, u32)>,
    ) -> Result<Names, BadNames> {
        let mut last = None;
        for &(f, start, end) in &funcs {
            if last.is_some_and(|l| l >= f) {
                return Err(BadNames("function names out of order"));
            }
            last = Some(f);
            if start > end || end as usize > text.len() {
                return Err(BadNames("function name out of range"));
            }
        }
        Ok(Names {
            module,
            text,
            funcs,
        })
    }

    /// The buffer of function names and the table into it.
    pub fn parts(&self) -> (&[u8], &[(FuncIndex, u32, u32)]) {
        (&self.text, &self.funcs)
    }

    /// The name of function `f`, if it has one.
    pub fn func(&self, f: FuncIndex) -> Option<&str> {
        let i = self.funcs.binary_search_by_key(&f, |&(g, _, _)| g).ok()?;
        let (_, start, end) = self.funcs[i];
        self.name(start, end)
    }

    fn name(&self, start: u32, end: u32) -> Option<&str> {
        std::str::from_utf8(self.text.get(start as usize..end as usize)?).ok()
    }

    /// Every named function with its name, by index.
    pub fn funcs(&self) -> impl Iterator<Item = (FuncIndex, &str)> + '_ {
        self.funcs
            .iter()
            .filter_map(|&(f, start, end)| Some((f, self.name(start, end)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(i: u32) -> FuncIndex {
        FuncIndex::from_u32(i)
    }

    #[test]
    fn names_are_found_by_index_and_the_last_of_two_wins() {
        let n = Names::new(
            None,
            [(f(7), "seven"), (f(2), "two"), (f(7), "sept"), (f(0), "")],
        );
        assert_eq!(n.func(f(7)), Some("sept"));
        assert_eq!(n.func(f(2)), Some("two"));
        assert_eq!(n.func(f(0)), Some(""));
        assert_eq!(n.func(f(3)), None);
        let all: Vec<_> = n.funcs().collect();
        assert_eq!(all, [(f(0), ""), (f(2), "two"), (f(7), "sept")]);
    }

    #[test]
    fn parts_round_trip_and_bad_parts_are_refused() {
        let n = Names::new(Some("m".into()), [(f(1), "é"), (f(4), "four")]);
        let (text, table) = n.parts();
        let back = Names::from_parts(n.module.clone(), text.to_vec(), table.to_vec());
        assert_eq!(back, Ok(n.clone()));
        let text = text.to_vec();
        for bad in [
            vec![(f(4), 0, 2), (f(1), 2, 6)],
            vec![(f(1), 0, 99)],
            vec![(f(1), 2, 1)],
            vec![(f(1), 0, 2), (f(1), 2, 6)],
        ] {
            assert!(Names::from_parts(None, text.clone(), bad).is_err());
        }
        // A range that splits a character is no name.
        let split = Names::from_parts(None, text, vec![(f(1), 0, 1)]).expect("in range");
        assert_eq!(split.func(f(1)), None);
        assert_eq!(split.funcs().count(), 0);
    }
}
