//! Stacks → a call tree → Pyroscope's flamebearer layout.
//!
//! Layout (see PROTOCOLS.md): `names[0]` is `total`; `levels[d]` lists the nodes of depth `d`
//! left to right as `[x_delta, total, self, name_index]`, where `x_delta` is the node's x minus
//! the end of the previous node on that level; children start at `parent.x + parent.self` and
//! are ordered by name; nodes cut by `max_nodes` merge into a child named `other`.

use rustc_hash::FxHashMap;
use serde::Serialize;

/// A call tree with summed totals.
#[derive(Debug, Clone, Default)]
pub struct CallTree {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    name: String,
    total: i64,
    self_value: i64,
    children: FxHashMap<String, usize>,
}

impl CallTree {
    /// An empty tree (just the root, `total`).
    pub fn new() -> Self {
        CallTree {
            nodes: vec![Node {
                name: "total".into(),
                ..Node::default()
            }],
        }
    }

    /// Adds `value` for the stack of `frames`, root first. Non-positive values are ignored.
    pub fn add<'a>(&mut self, frames: impl IntoIterator<Item = &'a str>, value: i64) {
        if value <= 0 {
            return;
        }
        let mut at = 0;
        self.nodes[0].total += value;
        for frame in frames {
            let next = match self.nodes[at].children.get(frame) {
                Some(&i) => i,
                None => {
                    let i = self.nodes.len();
                    self.nodes.push(Node {
                        name: frame.to_string(),
                        ..Node::default()
                    });
                    self.nodes[at].children.insert(frame.to_string(), i);
                    i
                }
            };
            at = next;
            self.nodes[at].total += value;
        }
        self.nodes[at].self_value += value;
    }

    /// The root total.
    pub fn total(&self) -> i64 {
        self.nodes[0].total
    }

    /// Every root-first stack with a self value (for tests and exports).
    pub fn stacks(&self) -> Vec<(Vec<String>, i64)> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        self.collect(0, &mut path, &mut out);
        out.sort();
        out
    }

    fn collect(&self, at: usize, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, i64)>) {
        let node = &self.nodes[at];
        if node.self_value > 0 && at != 0 {
            out.push((path.clone(), node.self_value));
        }
        for &child in node.children.values() {
            path.push(self.nodes[child].name.clone());
            self.collect(child, path, out);
            path.pop();
        }
    }

    /// Visits every node depth-first (children by name), root first, as
    /// `(node index, parent index or None, name, self, total)`.
    pub fn walk(&self, mut visit: impl FnMut(usize, Option<usize>, &str, i64, i64)) {
        let mut stack = vec![(0usize, None)];
        while let Some((at, parent)) = stack.pop() {
            let n = &self.nodes[at];
            visit(at, parent, &n.name, n.self_value, n.total);
            let kids = self.sorted_children(at);
            for c in kids.into_iter().rev() {
                stack.push((c, Some(at)));
            }
        }
    }

    fn sorted_children(&self, at: usize) -> Vec<usize> {
        let mut c: Vec<usize> = self.nodes[at].children.values().copied().collect();
        c.sort_by(|a, b| self.nodes[*a].name.cmp(&self.nodes[*b].name));
        c
    }

    /// The flamebearer of this tree, keeping about `max_nodes` nodes (0 = all).
    pub fn flamebearer(&self, max_nodes: usize) -> Flamebearer {
        let min_total = self.min_total(max_nodes);
        // Laid-out node: (depth, x, total, self, name).
        struct Laid {
            depth: usize,
            x: i64,
            total: i64,
            self_value: i64,
            name: String,
        }
        let mut laid: Vec<Laid> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut name_index: FxHashMap<String, usize> = FxHashMap::default();
        let mut max_self = 0;
        // Stack of (node or synthetic other, depth, x). Children pushed in name order, so the
        // last one is visited first; names are numbered in visit order.
        enum Item {
            Node(usize),
            Other(i64),
        }
        let mut stack = vec![(Item::Node(0), 0usize, 0i64)];
        while let Some((item, depth, x)) = stack.pop() {
            let (name, total, self_value) = match &item {
                Item::Node(i) => {
                    let n = &self.nodes[*i];
                    (n.name.clone(), n.total, n.self_value)
                }
                Item::Other(v) => ("other".to_string(), *v, *v),
            };
            if !name_index.contains_key(&name) {
                name_index.insert(name.clone(), names.len());
                names.push(name.clone());
            }
            max_self = max_self.max(self_value);
            laid.push(Laid {
                depth,
                x,
                total,
                self_value,
                name,
            });
            if let Item::Node(i) = item {
                let mut cx = x + self_value;
                let mut other = 0;
                let mut kids = Vec::new();
                for c in self.sorted_children(i) {
                    let t = self.nodes[c].total;
                    if t >= min_total {
                        kids.push((Item::Node(c), depth + 1, cx));
                        cx += t;
                    } else {
                        other += t;
                    }
                }
                if other > 0 {
                    kids.push((Item::Other(other), depth + 1, cx));
                }
                stack.extend(kids);
            }
        }
        let depth = laid.iter().map(|l| l.depth).max().unwrap_or(0) + 1;
        let mut by_level: Vec<Vec<&Laid>> = vec![Vec::new(); depth];
        for l in &laid {
            by_level[l.depth].push(l);
        }
        let levels = by_level
            .into_iter()
            .map(|mut nodes| {
                nodes.sort_by_key(|l| l.x);
                let mut row = Vec::with_capacity(nodes.len() * 4);
                let mut prev_end = 0;
                for l in nodes {
                    row.extend_from_slice(&[
                        l.x - prev_end,
                        l.total,
                        l.self_value,
                        name_index[&l.name] as i64,
                    ]);
                    prev_end = l.x + l.total;
                }
                row
            })
            .collect();
        Flamebearer {
            names,
            levels,
            num_ticks: self.total(),
            max_self,
        }
    }

    fn min_total(&self, max_nodes: usize) -> i64 {
        if max_nodes == 0 || self.nodes.len() <= max_nodes {
            return 0;
        }
        let mut totals: Vec<i64> = self.nodes.iter().skip(1).map(|n| n.total).collect();
        totals.sort_unstable_by(|a, b| b.cmp(a));
        // Keep nodes whose total reaches the max_nodes-th largest; ties may keep a few more.
        totals[max_nodes.saturating_sub(1).min(totals.len() - 1)].max(1)
    }
}

/// Pyroscope's flamebearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flamebearer {
    /// Frame names; `names[0]` is `total`.
    pub names: Vec<String>,
    /// Per depth, 4 integers per node.
    pub levels: Vec<Vec<i64>>,
    /// Root total.
    #[serde(rename = "numTicks")]
    pub num_ticks: i64,
    /// Largest self value.
    #[serde(rename = "maxSelf")]
    pub max_self: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn worked_example_from_protocols() {
        let mut t = CallTree::new();
        t.add(["a", "b"], 1);
        t.add(["a", "c"], 2);
        let fb = t.flamebearer(0);
        assert_eq!(fb.names, ["total", "a", "c", "b"]);
        assert_eq!(
            fb.levels,
            vec![
                vec![0, 3, 0, 0],
                vec![0, 3, 0, 1],
                vec![0, 1, 1, 3, 0, 2, 2, 2]
            ]
        );
        assert_eq!(fb.num_ticks, 3);
        assert_eq!(fb.max_self, 2);
    }

    #[test]
    fn children_start_after_parent_self() {
        let mut t = CallTree::new();
        t.add(["a"], 5);
        t.add(["a", "b"], 2);
        let fb = t.flamebearer(0);
        // a: x 0, total 7, self 5; b: x 5.
        assert_eq!(fb.levels[2], vec![5, 2, 2, 2]);
    }

    #[test]
    fn max_nodes_merges_small_nodes_into_other() {
        let mut t = CallTree::new();
        t.add(["a", "big"], 100);
        for i in 0..10 {
            t.add(["a", &format!("small{i}")], 1);
        }
        let fb = t.flamebearer(2);
        assert!(fb.names.contains(&"other".to_string()));
        assert_eq!(fb.levels[2].len(), 8, "big + other");
        assert_eq!(fb.num_ticks, 110);
        let other = fb.names.iter().position(|n| n == "other").unwrap() as i64;
        let row = &fb.levels[2];
        let other_total: i64 = row.chunks(4).filter(|c| c[3] == other).map(|c| c[1]).sum();
        assert_eq!(other_total, 10);
    }

    proptest! {
        #[test]
        fn level_totals_never_exceed_parent_and_root_is_sum(stacks in proptest::collection::vec((proptest::collection::vec("[a-d]", 1..5), 1i64..100), 1..30), max in 0usize..20) {
            let mut t = CallTree::new();
            let mut sum = 0;
            for (s, v) in &stacks {
                t.add(s.iter().map(String::as_str), *v);
                sum += v;
            }
            let fb = t.flamebearer(max);
            prop_assert_eq!(fb.num_ticks, sum);
            for level in &fb.levels {
                let mut x = 0;
                for node in level.chunks(4) {
                    prop_assert!(node[0] >= 0);
                    x += node[0] + node[1];
                }
                prop_assert!(x <= sum);
            }
        }
    }
}
