//! Classic BPF as seccomp runs it: the load-time checks and the
//! interpreter.
//!
//! A program is checked once, when it is installed, with the checks Linux
//! makes (`bpf_check_classic`, `check_load_and_stores` in
//! net/core/filter.c, then `seccomp_check_filter`): 1 to
//! [`MAXINSNS`] instructions, only the opcodes seccomp allows, every jump
//! forward and inside the program, a `RET` last, loads only of aligned
//! words of `struct seccomp_data`, scratch cells read only after they are
//! written on every path. `LD|W|LEN` and `LDX|W|LEN` become immediate
//! loads of the data's size, as Linux rewrites them. A checked program
//! then runs with no further bounds to check: it always ends, within as
//! many steps as it has instructions, in a `RET`.
//!
//! What is left out: ancillary loads (`SKF_AD_*`), byte and half-word
//! loads, indirect loads and `MOD` / `LDX|B|MSH` — Linux's classic BPF has
//! them, but seccomp refuses them, as here.

use alloc::boxed::Box;
use alloc::vec::Vec;

use veil_abi::Errno;

/// At most this many instructions in one program (`BPF_MAXINSNS`).
pub const MAXINSNS: usize = 4096;
/// Scratch memory cells (`BPF_MEMWORDS`).
pub const MEMWORDS: u32 = 16;
/// Bytes of `struct seccomp_data`: the data a program loads from.
pub const DATA_LEN: u32 = 64;

// Instruction classes, sizes, modes, operations and sources (linux/bpf_common.h).
pub const LD: u16 = 0x00;
pub const LDX: u16 = 0x01;
pub const ST: u16 = 0x02;
pub const STX: u16 = 0x03;
pub const ALU: u16 = 0x04;
pub const JMP: u16 = 0x05;
pub const RET: u16 = 0x06;
pub const MISC: u16 = 0x07;
pub const W: u16 = 0x00;
pub const H: u16 = 0x08;
pub const B: u16 = 0x10;
pub const IMM: u16 = 0x00;
pub const ABS: u16 = 0x20;
pub const IND: u16 = 0x40;
pub const MEM: u16 = 0x60;
pub const LEN: u16 = 0x80;
pub const MSH: u16 = 0xa0;
pub const ADD: u16 = 0x00;
pub const SUB: u16 = 0x10;
pub const MUL: u16 = 0x20;
pub const DIV: u16 = 0x30;
pub const OR: u16 = 0x40;
pub const AND: u16 = 0x50;
pub const LSH: u16 = 0x60;
pub const RSH: u16 = 0x70;
pub const NEG: u16 = 0x80;
pub const MOD: u16 = 0x90;
pub const XOR: u16 = 0xa0;
pub const JA: u16 = 0x00;
pub const JEQ: u16 = 0x10;
pub const JGT: u16 = 0x20;
pub const JGE: u16 = 0x30;
pub const JSET: u16 = 0x40;
pub const K: u16 = 0x00;
pub const X: u16 = 0x08;
pub const A: u16 = 0x10;
pub const TAX: u16 = 0x00;
pub const TXA: u16 = 0x80;

/// One instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

impl Insn {
    /// An instruction without jump offsets (`BPF_STMT`).
    pub const fn stmt(code: u16, k: u32) -> Insn {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A conditional jump (`BPF_JUMP`).
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// Decodes the 8 bytes of a `struct sock_filter`.
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: u16::from_le_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// True for the conditional jumps (each has a true and a false target).
fn is_cond_jump(code: u16) -> bool {
    code & 0x07 == JMP
        && matches!(code & 0xf0, JEQ | JGT | JGE | JSET)
        && code & !(0xf0 | X | 0x07) == 0
}

/// True for the opcodes seccomp accepts (`seccomp_check_filter`'s list,
/// with the two `LEN` loads it rewrites and `LD|W|ABS`).
fn seccomp_allows(code: u16) -> bool {
    const ALU_OPS: [u16; 9] = [ADD, SUB, MUL, DIV, AND, OR, XOR, LSH, RSH];
    if code & 0x07 == ALU && code != ALU | NEG {
        return ALU_OPS.contains(&(code & 0xf0)) && code & !(0xf0 | X | 0x07) == 0;
    }
    is_cond_jump(code)
        || matches!(
            code,
            0x20 /* LD|W|ABS */
                | 0x80 /* LD|W|LEN */
                | 0x81 /* LDX|W|LEN */
                | 0x06 /* RET|K */
                | 0x16 /* RET|A */
                | 0x84 /* ALU|NEG */
                | 0x00 /* LD|IMM */
                | 0x01 /* LDX|IMM */
                | 0x07 /* MISC|TAX */
                | 0x87 /* MISC|TXA */
                | 0x60 /* LD|MEM */
                | 0x61 /* LDX|MEM */
                | 0x02 /* ST */
                | 0x03 /* STX */
                | 0x05 /* JMP|JA */
        )
}

/// A program that passed the checks; [`Program::run`] evaluates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    insns: Box<[Insn]>,
    converted: usize,
}

impl Program {
    /// Checks `insns` as Linux does when a filter is installed; `EINVAL`
    /// for anything it refuses.
    pub fn new(mut insns: Vec<Insn>) -> Result<Program, Errno> {
        let len = insns.len();
        if len == 0 || len > MAXINSNS {
            return Err(Errno::EINVAL);
        }
        for (pc, i) in insns.iter_mut().enumerate() {
            let rest = (len - pc - 1) as u32;
            if !seccomp_allows(i.code) {
                return Err(Errno::EINVAL);
            }
            match i.code {
                c if c == ALU | DIV | K && i.k == 0 => return Err(Errno::EINVAL),
                c if (c == ALU | LSH | K || c == ALU | RSH | K) && i.k >= 32 => {
                    return Err(Errno::EINVAL)
                }
                c if matches!(c, 0x60 | 0x61 | 0x02 | 0x03) && i.k >= MEMWORDS => {
                    return Err(Errno::EINVAL)
                }
                c if c == JMP | JA && i.k >= rest => return Err(Errno::EINVAL),
                c if is_cond_jump(c) && (u32::from(i.jt) >= rest || u32::from(i.jf) >= rest) => {
                    return Err(Errno::EINVAL)
                }
                c if c == LD | W | ABS && (i.k >= DATA_LEN || i.k & 3 != 0) => {
                    return Err(Errno::EINVAL)
                }
                c if c == LD | W | LEN => *i = Insn::stmt(LD | IMM, DATA_LEN),
                c if c == LDX | W | LEN => *i = Insn::stmt(LDX | IMM, DATA_LEN),
                _ => {}
            }
        }
        if !matches!(insns[len - 1].code, 0x06 | 0x16) {
            return Err(Errno::EINVAL);
        }
        check_load_and_stores(&insns)?;
        Ok(Program {
            converted: converted_len(&insns),
            insns: insns.into_boxed_slice(),
        })
    }

    /// Instructions in Linux's eBPF translation of the program
    /// (`bpf_convert_filter`), which is what its stack limit counts.
    pub fn converted_len(&self) -> usize {
        self.converted
    }

    /// Instructions in the program.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// True if the program has no instructions (never, once checked).
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Runs the program over `data` (`struct seccomp_data` as 16
    /// native-endian words) and returns what its `RET` returned.
    ///
    /// Division by a zero X returns 0, as Linux's converted classic BPF
    /// does; shifts by X use its low five bits, as x86 does.
    pub fn run(&self, data: &[u32; 16]) -> u32 {
        let (mut a, mut x) = (0u32, 0u32);
        let mut mem = [0u32; MEMWORDS as usize];
        let mut pc = 0usize;
        // Checked programs jump only forward, so this ends; `get` keeps an
        // impossible index from panicking (0 is the strictest answer).
        while let Some(i) = self.insns.get(pc) {
            pc += 1;
            let k = i.k;
            let src = if i.code & X != 0 { x } else { k };
            match i.code & 0x07 {
                LD => match i.code {
                    0x20 => a = data.get((k / 4) as usize).copied().unwrap_or(0),
                    0x60 => a = mem.get(k as usize).copied().unwrap_or(0),
                    _ => a = k,
                },
                LDX => match i.code {
                    0x61 => x = mem.get(k as usize).copied().unwrap_or(0),
                    _ => x = k,
                },
                ST => {
                    if let Some(m) = mem.get_mut(k as usize) {
                        *m = a;
                    }
                }
                STX => {
                    if let Some(m) = mem.get_mut(k as usize) {
                        *m = x;
                    }
                }
                ALU => {
                    a = match i.code & 0xf0 {
                        ADD => a.wrapping_add(src),
                        SUB => a.wrapping_sub(src),
                        MUL => a.wrapping_mul(src),
                        DIV => match a.checked_div(src) {
                            Some(v) => v,
                            None => return 0,
                        },
                        OR => a | src,
                        AND => a & src,
                        XOR => a ^ src,
                        LSH => a.wrapping_shl(src),
                        RSH => a.wrapping_shr(src),
                        _ => a.wrapping_neg(),
                    }
                }
                JMP => {
                    if i.code == JMP | JA {
                        pc += k as usize;
                        continue;
                    }
                    let taken = match i.code & 0xf0 {
                        JEQ => a == src,
                        JGT => a > src,
                        JGE => a >= src,
                        _ => a & src != 0,
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
                RET => return if i.code & A != 0 { a } else { k },
                _ => {
                    if i.code == MISC | TXA {
                        a = x;
                    } else {
                        x = a;
                    }
                }
            }
        }
        0
    }
}

/// The length of Linux's eBPF translation of a checked program: three
/// prologue instructions (clear A and X, keep the context), two for a
/// `RET|K` (move, exit), four for `DIV|X` (the zero test and its exit),
/// for a conditional jump one more if its constant is negative as an
/// `int` and a second jump unless one target is the next instruction (a
/// `JSET` cannot be inverted, so only a false branch to the next one
/// saves it); one for everything else.
fn converted_len(insns: &[Insn]) -> usize {
    let one = |i: &Insn| match i.code {
        c if c == RET | K => 2,
        c if c == ALU | DIV | X => 4,
        c if is_cond_jump(c) => {
            let tmp = usize::from(c & X == 0 && (i.k as i32) < 0);
            let inverted = i.jt == 0 && c & 0xf0 != JSET;
            tmp + if i.jf == 0 || inverted { 1 } else { 2 }
        }
        _ => 1,
    };
    3 + insns.iter().map(one).sum::<usize>()
}

/// Linux's `check_load_and_stores`: a scratch cell may be read only if
/// every path to the read wrote it first (one bit per cell, intersected
/// at jump targets).
fn check_load_and_stores(insns: &[Insn]) -> Result<(), Errno> {
    let mut masks = alloc::vec![u16::MAX; insns.len()];
    let mut valid: u16 = 0;
    for (pc, i) in insns.iter().enumerate() {
        valid &= masks[pc];
        let cell = 1u16 << (i.k & 15);
        match i.code {
            0x02 | 0x03 => valid |= cell,
            0x60 | 0x61 if valid & cell == 0 => return Err(Errno::EINVAL),
            c if c == JMP | JA => {
                // In range: checked before.
                if let Some(m) = masks.get_mut(pc + 1 + i.k as usize) {
                    *m &= valid;
                }
                valid = u16::MAX;
            }
            c if is_cond_jump(c) => {
                for off in [i.jt, i.jf] {
                    if let Some(m) = masks.get_mut(pc + 1 + usize::from(off)) {
                        *m &= valid;
                    }
                }
                valid = u16::MAX;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const RET_K: u16 = RET | K;
    const LDW: u16 = LD | W | ABS;

    fn data(nr: u32, arg0: u64) -> [u32; 16] {
        let mut d = [0u32; 16];
        d[0] = nr;
        d[1] = 0xc000_003e;
        d[4] = arg0 as u32;
        d[5] = (arg0 >> 32) as u32;
        d
    }

    fn prog(v: Vec<Insn>) -> Program {
        Program::new(v).expect("valid program")
    }

    #[test]
    fn accepts_a_plain_allow_list() {
        let p = prog(vec![
            Insn::stmt(LDW, 4),
            Insn::jump(JMP | JEQ | K, 0xc000_003e, 1, 0),
            Insn::stmt(RET_K, 0),
            Insn::stmt(LDW, 0),
            Insn::jump(JMP | JEQ | K, 39, 0, 1),
            Insn::stmt(RET_K, 0x0005_0001),
            Insn::stmt(RET_K, 0x7fff_0000),
        ]);
        assert_eq!(p.run(&data(39, 0)), 0x0005_0001);
        assert_eq!(p.run(&data(1, 0)), 0x7fff_0000);
        let mut other_arch = data(39, 0);
        other_arch[1] = 0x4000_0003;
        assert_eq!(p.run(&other_arch), 0);
    }

    #[test]
    fn refuses_what_linux_refuses() {
        let ret = Insn::stmt(RET_K, 0);
        let bad: Vec<Vec<Insn>> = vec![
            vec![],
            vec![ret; MAXINSNS + 1],
            // Not ending in RET.
            vec![Insn::stmt(LD | IMM, 1)],
            // Opcodes seccomp refuses: byte / half / indirect loads, MOD,
            // MSH, an unknown code.
            vec![Insn::stmt(LD | B | ABS, 0), ret],
            vec![Insn::stmt(LD | H | ABS, 0), ret],
            vec![Insn::stmt(LD | W | IND, 0), ret],
            vec![Insn::stmt(ALU | MOD | K, 3), ret],
            vec![Insn::stmt(LDX | B | MSH, 0), ret],
            vec![Insn::stmt(0xffff, 0), ret],
            vec![Insn::stmt(RET | X, 0)],
            // Loads outside struct seccomp_data or unaligned; ancillary.
            vec![Insn::stmt(LDW, 64), ret],
            vec![Insn::stmt(LDW, 2), ret],
            vec![Insn::stmt(LDW, 0xffff_f000), ret],
            // Jumps out of range (the last instruction jumps nowhere).
            vec![Insn::stmt(JMP | JA, 1), ret],
            vec![Insn::jump(JMP | JEQ | K, 0, 1, 0), ret],
            vec![Insn::jump(JMP | JEQ | K, 0, 0, 1), ret],
            // Division by a zero constant, shifts of 32 or more.
            vec![Insn::stmt(ALU | DIV | K, 0), ret],
            vec![Insn::stmt(ALU | LSH | K, 32), ret],
            vec![Insn::stmt(ALU | RSH | K, 40), ret],
            // Scratch cells out of range, or read before written.
            vec![Insn::stmt(ST, 16), ret],
            vec![Insn::stmt(LD | MEM, 0), ret],
            vec![Insn::stmt(LDX | MEM, 3), ret],
            // Written on one path only.
            vec![
                Insn::jump(JMP | JEQ | K, 0, 0, 1),
                Insn::stmt(ST, 2),
                Insn::stmt(LD | MEM, 2),
                ret,
            ],
        ];
        for (n, b) in bad.into_iter().enumerate() {
            assert_eq!(Program::new(b), Err(Errno::EINVAL), "program {n}");
        }
    }

    #[test]
    fn length_limits() {
        assert!(Program::new(vec![Insn::stmt(RET_K, 0); MAXINSNS]).is_ok());
        assert!(Program::new(vec![Insn::stmt(RET_K, 0)]).is_ok());
    }

    #[test]
    fn scratch_memory_written_on_every_path() {
        let p = prog(vec![
            Insn::stmt(LDW, 0),
            Insn::jump(JMP | JEQ | K, 1, 0, 2),
            Insn::stmt(ST, 5),
            Insn::stmt(JMP | JA, 1),
            Insn::stmt(ST, 5),
            Insn::stmt(LDX | MEM, 5),
            Insn::stmt(MISC | TXA, 0),
            Insn::stmt(RET | A, 0),
        ]);
        assert_eq!(p.run(&data(1, 0)), 1);
        assert_eq!(p.run(&data(7, 0)), 7);
    }

    #[test]
    fn len_loads_become_the_data_size() {
        let p = prog(vec![
            Insn::stmt(LDX | W | LEN, 0),
            Insn::stmt(LD | W | LEN, 0),
            Insn::stmt(ALU | ADD | X, 0),
            Insn::stmt(RET | A, 0),
        ]);
        assert_eq!(p.run(&data(0, 0)), 128);
    }

    #[test]
    fn arithmetic_and_jumps() {
        // A = ((arg0 low * 3 + 1) ^ 0xff) >> 1, with X-sourced ops.
        let p = prog(vec![
            Insn::stmt(LDW, 16),
            Insn::stmt(ALU | MUL | K, 3),
            Insn::stmt(LDX | IMM, 1),
            Insn::stmt(ALU | ADD | X, 0),
            Insn::stmt(ALU | XOR | K, 0xff),
            Insn::stmt(ALU | RSH | K, 1),
            Insn::stmt(RET | A, 0),
        ]);
        assert_eq!(p.run(&data(0, 4)), ((4 * 3 + 1) ^ 0xff) >> 1);
        // Division by a zero X ends the program with 0.
        let p = prog(vec![
            Insn::stmt(LD | IMM, 9),
            Insn::stmt(LDX | IMM, 0),
            Insn::stmt(ALU | DIV | X, 0),
            Insn::stmt(RET_K, 0x7fff_0000),
        ]);
        assert_eq!(p.run(&data(0, 0)), 0);
        // JSET, JGT, JGE and NEG.
        let p = prog(vec![
            Insn::stmt(LDW, 20), // arg0 high word
            Insn::jump(JMP | JSET | K, 0x8000_0000, 3, 0),
            Insn::stmt(LDW, 16),
            Insn::jump(JMP | JGT | K, 10, 2, 0),
            Insn::jump(JMP | JGE | K, 10, 0, 2),
            Insn::stmt(ALU | NEG, 0),
            Insn::stmt(RET | A, 0),
            Insn::stmt(RET_K, 1),
        ]);
        assert_eq!(p.run(&data(0, 1 << 63)), 0x8000_0000);
        assert_eq!(p.run(&data(0, 11)), 11);
        assert_eq!(p.run(&data(0, 10)), 10u32.wrapping_neg());
        assert_eq!(p.run(&data(0, 9)), 1);
    }

    #[test]
    fn converted_length() {
        let ret = Insn::stmt(RET | A, 0);
        let len = |v: Vec<Insn>| prog(v).converted_len();
        assert_eq!(len(vec![Insn::stmt(RET_K, 0)]), 5);
        assert_eq!(len(vec![Insn::stmt(LD | IMM, 1), ret]), 5);
        assert_eq!(len(vec![Insn::stmt(ALU | DIV | X, 0), ret]), 8);
        let jump = |code, k, jt, jf| len(vec![Insn::jump(code, k, jt, jf), ret, ret]);
        assert_eq!(jump(JMP | JEQ | K, 5, 1, 0), 6);
        assert_eq!(jump(JMP | JEQ | K, 5, 0, 1), 6);
        assert_eq!(jump(JMP | JEQ | K, 5, 1, 1), 7);
        assert_eq!(jump(JMP | JSET | K, 5, 0, 1), 7);
        assert_eq!(jump(JMP | JEQ | K, 0x8000_0000, 0, 1), 7);
        assert_eq!(jump(JMP | JEQ | X, 0x8000_0000, 0, 1), 6);
    }

    proptest::proptest! {
        /// Programs over seccomp's opcodes (and a few it refuses), with
        /// small offsets and operands: the checks never panic, and a
        /// program they pass runs to a RET without panicking.
        #[test]
        fn checked_programs_run_to_a_ret(
            prog in proptest::collection::vec(
                (0usize..40, 0u8..4, 0u8..4, proptest::prop_oneof![0u32..80, proptest::arbitrary::any::<u32>()]),
                1..40,
            ),
            words in proptest::array::uniform16(proptest::arbitrary::any::<u32>()),
        ) {
            const CODES: [u16; 40] = [
                LD | W | ABS, LD | W | LEN, LDX | W | LEN, LD | IMM, LDX | IMM, LD | MEM,
                LDX | MEM, ST, STX, MISC | TAX, MISC | TXA, RET | K, RET | A, JMP | JA,
                JMP | JEQ | K, JMP | JEQ | X, JMP | JGT | K, JMP | JGT | X, JMP | JGE | K,
                JMP | JGE | X, JMP | JSET | K, JMP | JSET | X, ALU | ADD | K, ALU | SUB | X,
                ALU | MUL | K, ALU | DIV | K, ALU | DIV | X, ALU | AND | X, ALU | OR | K,
                ALU | XOR | X, ALU | LSH | K, ALU | RSH | X, ALU | NEG, RET | K, RET | K,
                LD | B | ABS, ALU | MOD | K, LD | W | IND, 0x00ff, RET | X,
            ];
            let insns: Vec<Insn> = prog
                .iter()
                .map(|&(c, jt, jf, k)| Insn::jump(CODES[c], k, jt, jf))
                .collect();
            if let Ok(p) = Program::new(insns.clone()) {
                proptest::prop_assert!(matches!(insns.last().map(|i| i.code), Some(0x06 | 0x16)));
                let _ = p.run(&words);
            }
        }
    }

    #[test]
    fn instruction_bytes() {
        let i = Insn::from_bytes([0x15, 0, 2, 3, 0x3e, 0, 0, 0xc0]);
        assert_eq!(i, Insn::jump(JMP | JEQ | K, 0xc000_003e, 2, 3));
    }
}
