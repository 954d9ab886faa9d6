package rules

import (
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// A glob pattern, as M3 filters write them:
//
//	*       any run of characters, possibly empty
//	?       exactly one character
//	[a-z]   one character of a set of characters and ranges; [!a-z] negates it
//	{a,b}   one of the alternatives; an alternative may hold *, ? and [...],
//	        but not another {...}
//
// A leading ! negates the whole pattern. Every other character stands for
// itself; there is no escape character. Characters are UTF-8 code points;
// a byte of the value that is not valid UTF-8 is one character that no
// literal equals.
//
// Patterns compile once into a matcher: an equality, prefix, suffix,
// prefix-and-suffix, substring or literal-set test when the pattern has that
// shape, and otherwise a Thompson NFA run over the value in one pass, whose
// cost is bounded by len(value)·len(pattern) whatever the pattern.

// patKind is the shape of a compiled pattern.
type patKind uint8

const (
	patEqual        patKind = iota // lit
	patAll                         // *
	patPrefix                      // lit*
	patSuffix                      // *lit
	patContains                    // *lit*
	patPrefixSuffix                // lit*lit2
	patLiterals                    // {a,b,c}
	patNFA                         // anything else
)

// pattern is a compiled glob. It is immutable and safe for concurrent use.
type pattern struct {
	src  string // as written, without the leading '!'
	neg  bool
	kind patKind
	lit  string   // patEqual, patPrefix, patSuffix, patContains, patPrefixSuffix (prefix)
	lit2 string   // patPrefixSuffix (suffix)
	alts []string // patLiterals

	// patNFA: literal text every match starts or ends with (a cheap test
	// before running prog), and the program.
	head, tail string
	prog       []inst
	// For programs of up to 64 states: the states each state reaches
	// without consuming (itself included), the consuming states, and the
	// accepting state, as bit sets.
	closure   []uint64
	consuming uint64
	accept    uint64
}

// tokKind is the kind of one element of a parsed glob.
type tokKind uint8

const (
	tokLit tokKind = iota
	tokAny
	tokClass
	tokStar
	tokAlt
)

type token struct {
	kind  tokKind
	lit   string     // tokLit: a run of literal text
	class *charClass // tokClass
	alts  [][]token  // tokAlt
}

// charClass is a [...] set of characters.
type charClass struct {
	neg    bool
	ranges []runeRange
}

type runeRange struct{ lo, hi rune }

func (c *charClass) match(r rune) bool {
	in := false
	for _, rg := range c.ranges {
		if rg.lo <= r && r <= rg.hi {
			in = true
			break
		}
	}
	return in != c.neg
}

// globError is a malformed pattern; off is the byte offset of the fault in
// the pattern.
type globError struct {
	off    int
	reason string
}

// compilePattern compiles the pattern s (a leading '!' negates it).
func compilePattern(s string) (*pattern, *globError) {
	p := &pattern{src: s}
	body, off := s, 0
	if strings.HasPrefix(s, "!") {
		p.neg, body, off = true, s[1:], 1
		p.src = body
		if body == "" {
			return nil, &globError{0, "a lone ! negates nothing"}
		}
	}
	toks, err := parseGlob(body, off)
	if err != nil {
		return nil, err
	}
	p.classify(toks)
	return p, nil
}

// parseGlob parses a pattern body; off is its offset in the filter term,
// for error positions.
func parseGlob(s string, off int) ([]token, *globError) {
	var toks []token
	i := 0
	for i < len(s) {
		switch s[i] {
		case '{':
			alts, n, err := parseAlternatives(s[i:], off+i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tokAlt, alts: alts})
			i += n
		default:
			tok, n, err := parseElem(s[i:], off+i)
			if err != nil {
				return nil, err
			}
			toks = appendToken(toks, tok)
			i += n
		}
	}
	return toks, nil
}

// parseAlternatives parses "{a,b,...}" at the start of s and returns the
// alternatives and the bytes consumed.
func parseAlternatives(s string, off int) ([][]token, int, *globError) {
	var alts [][]token
	var cur []token
	i := 1
	for {
		if i >= len(s) {
			return nil, 0, &globError{off, `unclosed "{"`}
		}
		switch s[i] {
		case '}':
			alts = append(alts, cur)
			if len(alts) == 1 && len(cur) == 0 {
				return nil, 0, &globError{off, `empty alternatives "{}"`}
			}
			return alts, i + 1, nil
		case ',':
			alts = append(alts, cur)
			cur = nil
			i++
		case '{':
			return nil, 0, &globError{off + i, `nested "{" inside alternatives is not supported`}
		default:
			tok, n, err := parseElem(s[i:], off+i)
			if err != nil {
				return nil, 0, err
			}
			cur = appendToken(cur, tok)
			i += n
		}
	}
}

// parseElem parses one element that is not an alternative: *, ?, [...] or
// one literal character.
func parseElem(s string, off int) (token, int, *globError) {
	switch s[0] {
	case '*':
		return token{kind: tokStar}, 1, nil
	case '?':
		return token{kind: tokAny}, 1, nil
	case '[':
		c, n, err := parseClass(s, off)
		if err != nil {
			return token{}, 0, err
		}
		return token{kind: tokClass, class: c}, n, nil
	}
	_, w := utf8.DecodeRuneInString(s)
	return token{kind: tokLit, lit: s[:w]}, w, nil
}

// parseClass parses "[...]" at the start of s.
func parseClass(s string, off int) (*charClass, int, *globError) {
	c := &charClass{}
	i := 1
	if i < len(s) && s[i] == '!' {
		c.neg = true
		i++
	}
	for {
		if i >= len(s) {
			return nil, 0, &globError{off, `unclosed "["`}
		}
		if s[i] == ']' {
			if len(c.ranges) == 0 {
				return nil, 0, &globError{off, "empty character class"}
			}
			return c, i + 1, nil
		}
		lo, w := utf8.DecodeRuneInString(s[i:])
		i += w
		hi := lo
		// "a-z" is a range; a '-' first or last in the class is itself.
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			var w2 int
			hi, w2 = utf8.DecodeRuneInString(s[i+1:])
			if hi < lo {
				return nil, 0, &globError{off + i - w, fmt.Sprintf("range %c-%c is reversed", lo, hi)}
			}
			i += 1 + w2
		}
		c.ranges = append(c.ranges, runeRange{lo, hi})
	}
}

// appendToken appends t, merging literal runs and runs of stars.
func appendToken(toks []token, t token) []token {
	if n := len(toks); n > 0 {
		last := &toks[n-1]
		switch {
		case t.kind == tokLit && last.kind == tokLit:
			last.lit += t.lit
			return toks
		case t.kind == tokStar && last.kind == tokStar:
			return toks
		}
	}
	return append(toks, t)
}

// classify picks the fastest matcher for the parsed pattern.
func (p *pattern) classify(toks []token) {
	isLit := func(i int) bool { return i < len(toks) && toks[i].kind == tokLit }
	isStar := func(i int) bool { return i < len(toks) && toks[i].kind == tokStar }
	switch {
	case len(toks) == 0:
		p.kind = patEqual
	case len(toks) == 1 && isLit(0):
		p.kind, p.lit = patEqual, toks[0].lit
	case len(toks) == 1 && isStar(0):
		p.kind = patAll
	case len(toks) == 2 && isLit(0) && isStar(1):
		p.kind, p.lit = patPrefix, toks[0].lit
	case len(toks) == 2 && isStar(0) && isLit(1):
		p.kind, p.lit = patSuffix, toks[1].lit
	case len(toks) == 3 && isStar(0) && isLit(1) && isStar(2):
		p.kind, p.lit = patContains, toks[1].lit
	case len(toks) == 3 && isLit(0) && isStar(1) && isLit(2):
		p.kind, p.lit, p.lit2 = patPrefixSuffix, toks[0].lit, toks[2].lit
	case len(toks) == 1 && toks[0].kind == tokAlt && literalAlts(toks[0].alts):
		p.kind = patLiterals
		for _, a := range toks[0].alts {
			lit := ""
			if len(a) == 1 {
				lit = a[0].lit
			}
			p.alts = append(p.alts, lit)
		}
	default:
		p.kind = patNFA
		if isLit(0) {
			p.head = toks[0].lit
		}
		if n := len(toks); n > 1 && isLit(n-1) {
			p.tail = toks[n-1].lit
		}
		p.prog = compileNFA(toks)
		p.closures()
	}
}

// closures precomputes the bit sets of small programs.
func (p *pattern) closures() {
	n := len(p.prog)
	if n > 64 {
		return
	}
	p.closure = make([]uint64, n)
	for pc := range p.prog {
		set := stateSet{0}
		set.add(p.prog, int32(pc))
		p.closure[pc] = set[0]
		switch p.prog[pc].op {
		case opRune, opAny, opClass, opStar:
			p.consuming |= 1 << pc
		}
	}
	p.accept = 1 << (n - 1)
}

// literalAlts reports whether every alternative is plain text.
func literalAlts(alts [][]token) bool {
	for _, a := range alts {
		if len(a) > 1 || len(a) == 1 && a[0].kind != tokLit {
			return false
		}
	}
	return true
}

// match reports whether s matches the pattern, negation included.
func (p *pattern) match(s string) bool {
	return p.matchBody(s) != p.neg
}

func (p *pattern) matchBody(s string) bool {
	switch p.kind {
	case patEqual:
		return s == p.lit
	case patAll:
		return true
	case patPrefix:
		return strings.HasPrefix(s, p.lit)
	case patSuffix:
		return strings.HasSuffix(s, p.lit)
	case patContains:
		return strings.Contains(s, p.lit)
	case patPrefixSuffix:
		return len(s) >= len(p.lit)+len(p.lit2) && strings.HasPrefix(s, p.lit) && strings.HasSuffix(s, p.lit2)
	case patLiterals:
		for _, a := range p.alts {
			if s == a {
				return true
			}
		}
		return false
	}
	if !strings.HasPrefix(s, p.head) || !strings.HasSuffix(s, p.tail) {
		return false
	}
	if p.closure != nil {
		return p.runSmall(s)
	}
	return runNFA(p.prog, s)
}

// runSmall runs a program of up to 64 states, its state sets in a word.
func (p *pattern) runSmall(str string) bool {
	prog, closure := p.prog, p.closure
	cur := closure[0]
	for i := 0; i < len(str); {
		r, w := rune(str[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(str[i:])
		}
		invalid := r == utf8.RuneError && w == 1
		i += w
		var next uint64
		for set := cur & p.consuming; set != 0; set &= set - 1 {
			pc := bits.TrailingZeros64(set)
			switch in := &prog[pc]; in.op {
			case opRune:
				if r == in.r && !invalid {
					next |= closure[pc+1]
				}
			case opAny:
				next |= closure[pc+1]
			case opClass:
				if in.class.match(r) {
					next |= closure[pc+1]
				}
			case opStar:
				next |= closure[pc]
			}
		}
		if next == 0 {
			return false
		}
		cur = next
	}
	return cur&p.accept != 0
}

// literals returns the values the pattern matches when it is a finite set
// of plain strings (an equality or a set of alternatives), for indexing.
func (p *pattern) literals() ([]string, bool) {
	if p.neg {
		return nil, false
	}
	switch p.kind {
	case patEqual:
		return []string{p.lit}, true
	case patLiterals:
		return p.alts, true
	}
	return nil, false
}

// prefix returns the text every value the pattern matches starts with.
func (p *pattern) prefix() string {
	if p.neg {
		return ""
	}
	switch p.kind {
	case patEqual, patPrefix, patPrefixSuffix:
		return p.lit
	case patNFA:
		return p.head
	}
	return ""
}

// suffix returns the text every value the pattern matches ends with.
func (p *pattern) suffix() string {
	if p.neg {
		return ""
	}
	switch p.kind {
	case patEqual, patSuffix:
		return p.lit
	case patPrefixSuffix:
		return p.lit2
	case patNFA:
		return p.tail
	}
	return ""
}

// The NFA. Each instruction is a state; opRune, opAny, opClass and opStar
// consume one character, opSplit and opJmp move without consuming, and
// opMatch accepts. A star loops on itself and may also move on to the next
// state without consuming.

type opcode uint8

const (
	opRune opcode = iota
	opAny
	opClass
	opStar
	opSplit
	opJmp
	opMatch
)

type inst struct {
	op    opcode
	r     rune       // opRune
	class *charClass // opClass
	x     int32      // opJmp target
	to    []int32    // opSplit targets
}

func compileNFA(toks []token) []inst {
	prog := emitTokens(nil, toks)
	return append(prog, inst{op: opMatch})
}

func emitTokens(prog []inst, toks []token) []inst {
	for _, t := range toks {
		switch t.kind {
		case tokLit:
			for _, r := range t.lit {
				prog = append(prog, inst{op: opRune, r: r})
			}
		case tokAny:
			prog = append(prog, inst{op: opAny})
		case tokClass:
			prog = append(prog, inst{op: opClass, class: t.class})
		case tokStar:
			prog = append(prog, inst{op: opStar})
		case tokAlt:
			split := len(prog)
			prog = append(prog, inst{op: opSplit})
			var jumps []int
			for _, a := range t.alts {
				prog[split].to = append(prog[split].to, int32(len(prog)))
				prog = emitTokens(prog, a)
				jumps = append(jumps, len(prog))
				prog = append(prog, inst{op: opJmp})
			}
			for _, j := range jumps {
				prog[j].x = int32(len(prog))
			}
		}
	}
	return prog
}

// stateSet is a bit set of NFA states.
type stateSet []uint64

func (s stateSet) has(pc int32) bool { return s[pc>>6]&(1<<(pc&63)) != 0 }

// add adds pc and every state reachable from it without consuming.
func (s stateSet) add(prog []inst, pc int32) {
	if s.has(pc) {
		return
	}
	s[pc>>6] |= 1 << (pc & 63)
	switch in := &prog[pc]; in.op {
	case opSplit:
		for _, t := range in.to {
			s.add(prog, t)
		}
	case opJmp:
		s.add(prog, in.x)
	case opStar:
		s.add(prog, pc+1)
	}
}

// runNFA reports whether prog accepts all of str. It keeps two state sets,
// on the stack for programs of up to 256 states.
func runNFA(prog []inst, str string) bool {
	words := (len(prog) + 63) / 64
	var buf [8]uint64
	var cur, next stateSet
	if words <= 4 {
		cur, next = buf[:words:words], buf[4:4+words]
	} else {
		cur, next = make(stateSet, words), make(stateSet, words)
	}
	cur.add(prog, 0)
	for i := 0; i < len(str); {
		r, w := utf8.DecodeRuneInString(str[i:])
		invalid := r == utf8.RuneError && w == 1
		i += w
		clear(next)
		alive := false
		for wi, word := range cur {
			for word != 0 {
				bit := int32(bits.TrailingZeros64(word))
				word &= word - 1
				pc := int32(wi)*64 + bit
				in := &prog[pc]
				switch in.op {
				case opRune:
					if r == in.r && !invalid {
						next.add(prog, pc+1)
						alive = true
					}
				case opAny:
					next.add(prog, pc+1)
					alive = true
				case opClass:
					if in.class.match(r) {
						next.add(prog, pc+1)
						alive = true
					}
				case opStar:
					next.add(prog, pc)
					alive = true
				}
			}
		}
		if !alive {
			return false
		}
		cur, next = next, cur
	}
	return cur.has(int32(len(prog) - 1))
}
