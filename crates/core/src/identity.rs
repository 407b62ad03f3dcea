//! Identity numbers of people and organisations: the 18-character citizen identity number
//! (公民身份号码, GB 11643-1999) and the unified social credit code (统一社会信用代码,
//! GB 32100-2015), with their check characters.
//!
//! Both types can only be built by parsing (or by `compose`, which builds the text and parses it),
//! so a value always has the right shape, a real birth date and a matching check character. Whether
//! the number was ever issued to anybody is a question for the registries, not for this module.
//!
//! A resident's number is personal data: [`ResidentId::masked`] gives the form to show to people who
//! must not see the whole number, its `Debug` form is masked too, and no [`IdError`] repeats the text
//! it was given.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

/// Why a text is not an identity number or a credit code.
///
/// No variant carries the rejected text, so that an error can be logged without leaking a
/// resident's number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The resident identity number is not 18 characters long (after trimming).
    #[error(
        "公民身份号码应为 18 位，不是 {0} 位 / a resident identity number has 18 characters, not {0}"
    )]
    ResidentLength(usize),
    /// The first 17 characters are not all digits, or the last is neither a digit nor X.
    #[error(
        "公民身份号码应为 17 位数字加 1 位数字或 X / a resident identity number is 17 digits then a digit or X"
    )]
    ResidentChars,
    /// The region code is not six digits, or is 000000.
    #[error("行政区划码应为 6 位数字且不为 000000 / a region code is six digits, not 000000")]
    Region,
    /// The birth date is not a calendar date, or lies outside 1900-01-01..=2099-12-31.
    #[error(
        "出生日期无效或不在 1900-01-01 至 2099-12-31 之间 / the birth date is not a real date between 1900-01-01 and 2099-12-31"
    )]
    BirthDate,
    /// The sequence number given to [`ResidentId::compose`] is above 999.
    #[error("顺序码应在 0 至 999 之间，不是 {0} / the sequence number is 0 to 999, not {0}")]
    Sequence(u16),
    /// The resident identity number's check character is not the one its first 17 digits give.
    #[error("身份证号校验位不符 / the identity number's check character does not match")]
    ResidentCheck,
    /// The credit code is not 18 characters long (after trimming).
    #[error(
        "统一社会信用代码应为 18 位，不是 {0} 位 / a unified social credit code has 18 characters, not {0}"
    )]
    CreditLength(usize),
    /// The credit code has a character outside `0-9` and `ABCDEFGHJKLMNPQRTUWXY`.
    #[error(
        "统一社会信用代码不能含有字符 {0:?}（不用 I、O、Z、S、V） / a unified social credit code cannot contain {0:?} (I, O, Z, S and V are never used)"
    )]
    CreditChar(char),
    /// The organisation part given to [`CreditCode::compose`] is not 9 characters long.
    #[error(
        "主体标识码应为 9 位，不是 {0} 位 / the organisation part of a credit code has 9 characters, not {0}"
    )]
    CreditBody(usize),
    /// The credit code's check character is not the one its first 17 characters give.
    #[error(
        "统一社会信用代码校验位不符 / the unified social credit code's check character does not match"
    )]
    CreditCheck,
}

/// The earliest birth date accepted in a resident identity number.
const EARLIEST_BIRTH: (i32, u32, u32) = (1900, 1, 1);
/// The latest birth date accepted in a resident identity number.
const LATEST_BIRTH: (i32, u32, u32) = (2099, 12, 31);

/// ISO 7064 MOD 11-2 weights of the first 17 digits of a resident identity number.
const RESIDENT_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each value of (weighted sum mod 11).
const RESIDENT_CHECK: &[u8; 11] = b"10X98765432";

/// The check character of a resident identity number whose first 17 bytes are ASCII digits.
fn resident_check(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(RESIDENT_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    RESIDENT_CHECK[(sum % 11) as usize]
}

/// Whether `region` is six ASCII digits and not `000000`.
fn is_region(region: &str) -> bool {
    region.len() == 6 && region.bytes().all(|b| b.is_ascii_digit()) && region != "000000"
}

/// Whether `date` lies in the range a resident identity number may carry.
fn birth_in_range(date: NaiveDate) -> bool {
    let (ey, em, ed) = EARLIEST_BIRTH;
    let (ly, lm, ld) = LATEST_BIRTH;
    let earliest = NaiveDate::from_ymd_opt(ey, em, ed);
    let latest = NaiveDate::from_ymd_opt(ly, lm, ld);
    earliest.is_some_and(|e| date >= e) && latest.is_some_and(|l| date <= l)
}

/// A citizen identity number (公民身份号码) of GB 11643-1999: a 6-digit region code, an 8-digit
/// birth date, a 3-digit order code whose parity gives the sex, and a check character (digit or X).
///
/// Only [`ResidentId::parse`] and [`ResidentId::compose`] build one, so the region is not 000000,
/// the birth date is a real date between 1900-01-01 and 2099-12-31, and the check character
/// matches. The region code is not looked up in GB/T 2260, and the birth date may lie in the
/// future: callers that know today's date decide about that.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResidentId {
    /// The canonical 18 characters, with an upper-case X.
    text: String,
    /// The birth date read from characters 7 to 14.
    birth: NaiveDate,
}

impl ResidentId {
    /// Parses an 18-character identity number. Surrounding whitespace is ignored and a trailing
    /// lower-case `x` is read as `X`.
    pub fn parse(text: &str) -> Result<ResidentId, IdError> {
        let t = text.trim();
        let len = t.chars().count();
        if len != 18 {
            return Err(IdError::ResidentLength(len));
        }
        let bytes = t.as_bytes();
        // 18 characters in 18 bytes: all ASCII, so byte slicing below is on character boundaries.
        if bytes.len() != 18
            || !bytes[..17].iter().all(u8::is_ascii_digit)
            || !(bytes[17].is_ascii_digit() || bytes[17] == b'X' || bytes[17] == b'x')
        {
            return Err(IdError::ResidentChars);
        }
        let canonical = t.to_ascii_uppercase();
        if !is_region(&canonical[0..6]) {
            return Err(IdError::Region);
        }
        let number = |range: std::ops::Range<usize>| -> u32 {
            canonical[range]
                .bytes()
                .fold(0, |n, b| n * 10 + u32::from(b - b'0'))
        };
        let year = i32::try_from(number(6..10)).map_err(|_| IdError::BirthDate)?;
        let birth = NaiveDate::from_ymd_opt(year, number(10..12), number(12..14))
            .filter(|d| birth_in_range(*d))
            .ok_or(IdError::BirthDate)?;
        if resident_check(&canonical.as_bytes()[..17]) != canonical.as_bytes()[17] {
            return Err(IdError::ResidentCheck);
        }
        Ok(ResidentId {
            text: canonical,
            birth,
        })
    }

    /// Builds the valid number of a person with this region code, birth date, sequence number
    /// (0 to 999) and sex, for generating demo residents.
    ///
    /// The 3-digit order code is `2 * (sequence / 2) + 1` for a man and `2 * (sequence / 2)` for a
    /// woman: `sequence` itself when its parity already matches the sex, otherwise the neighbour
    /// that does (`sequence + 1` for a man, `sequence - 1` for a woman). So it always lies in
    /// `000..=999` (999 stays 999 for a man and becomes 998 for a woman; 0 stays 0 for a woman and
    /// becomes 001 for a man), and two sequence numbers `2k` and `2k + 1` give the same order code.
    /// The check character is appended.
    pub fn compose(
        region: &str,
        birth: NaiveDate,
        sequence: u16,
        male: bool,
    ) -> Result<ResidentId, IdError> {
        if !is_region(region) {
            return Err(IdError::Region);
        }
        if !birth_in_range(birth) {
            return Err(IdError::BirthDate);
        }
        if sequence > 999 {
            return Err(IdError::Sequence(sequence));
        }
        let order = 2 * (sequence / 2) + u16::from(male);
        let mut text = format!(
            "{region}{:04}{:02}{:02}{order:03}",
            birth.year(),
            birth.month(),
            birth.day()
        );
        let check = resident_check(text.as_bytes());
        text.push(char::from(check));
        ResidentId::parse(&text)
    }

    /// The canonical 18 characters (a check X is upper-case).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The 6-digit region code (行政区划码) of the place of first registration.
    pub fn region(&self) -> &str {
        &self.text[0..6]
    }

    /// The birth date written in characters 7 to 14.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth
    }

    /// True for a man: the 17th digit (the last of the order code) is odd.
    pub fn is_male(&self) -> bool {
        (self.text.as_bytes()[16] - b'0') % 2 == 1
    }

    /// The number for display to people who must not see all of it: the region code, eight `*`
    /// in place of the birth date, and the last four characters (`440303********123X`).
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.text[0..6], &self.text[14..18])
    }
}

impl fmt::Display for ResidentId {
    /// The whole number. Use [`ResidentId::masked`] for people who must not see it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ResidentId {
    /// Masked, so that a value logged with `{:?}` does not leak the number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResidentId").field(&self.masked()).finish()
    }
}

impl FromStr for ResidentId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<ResidentId, IdError> {
        ResidentId::parse(s)
    }
}

/// The characters of a credit code, in the order of their values 0 to 30.
const CREDIT_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// The weights of characters 1 to 17 of a credit code (3^i mod 31).
const CREDIT_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// The value (0 to 30) of a credit-code character, or `None` when it is not one.
fn credit_value(c: char) -> Option<u32> {
    CREDIT_CHARS
        .iter()
        .position(|&b| char::from(b) == c)
        .and_then(|p| u32::try_from(p).ok())
}

/// The values of the characters of `text`, or the first character that is not a credit-code one.
fn credit_values(text: &str) -> Result<Vec<u32>, IdError> {
    text.chars()
        .map(|c| credit_value(c).ok_or(IdError::CreditChar(c)))
        .collect()
}

/// The check character of a credit code from the values of its first 17 characters:
/// 31 - (weighted sum mod 31), with 31 written as 0.
fn credit_check(values: &[u32]) -> char {
    let sum: u32 = values.iter().zip(CREDIT_WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    char::from(CREDIT_CHARS[check as usize])
}

/// A unified social credit code (统一社会信用代码) of GB 32100-2015: the registering authority, the
/// kind of organisation, a 6-digit region code, the 9-character organisation code (主体标识码) and a
/// check character, all from `0-9` and `ABCDEFGHJKLMNPQRTUWXY` (never I, O, Z, S or V).
///
/// Only [`CreditCode::parse`] and [`CreditCode::compose`] build one, so every character is from that
/// set, the region code is six digits and not 000000, and the check character matches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CreditCode(String);

impl CreditCode {
    /// Parses an 18-character code. Surrounding whitespace is ignored and letters are upper-cased.
    pub fn parse(text: &str) -> Result<CreditCode, IdError> {
        let t = text.trim().to_ascii_uppercase();
        let len = t.chars().count();
        if len != 18 {
            return Err(IdError::CreditLength(len));
        }
        // Every character is one of the 31 ASCII ones from here on, so byte slicing is safe.
        let values = credit_values(&t)?;
        if !is_region(&t[2..8]) {
            return Err(IdError::Region);
        }
        if credit_check(&values[..17]) != char::from(t.as_bytes()[17]) {
            return Err(IdError::CreditCheck);
        }
        Ok(CreditCode(t))
    }

    /// Builds the valid code with this registering authority (`9` for market regulation), kind
    /// (`1` for an enterprise under authority `9`), 6-digit region code and 9-character
    /// organisation code, appending the check character. Letters are upper-cased.
    pub fn compose(
        authority: char,
        kind: char,
        region: &str,
        body: &str,
    ) -> Result<CreditCode, IdError> {
        let head = format!("{authority}{kind}").to_ascii_uppercase();
        credit_values(&head)?;
        if !is_region(region) {
            return Err(IdError::Region);
        }
        let body = body.to_ascii_uppercase();
        let body_len = body.chars().count();
        if body_len != 9 {
            return Err(IdError::CreditBody(body_len));
        }
        let mut text = format!("{head}{region}{body}");
        let check = credit_check(&credit_values(&text)?);
        text.push(check);
        CreditCode::parse(&text)
    }

    /// The 18 characters, upper-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The registering authority (登记管理部门代码), the first character: `9` for market
    /// regulation, `1` for public-sector staffing, `5` for civil affairs, and so on.
    pub fn registering_authority(&self) -> char {
        char::from(self.0.as_bytes()[0])
    }

    /// The kind of organisation (机构类别代码), the second character, read together with the
    /// authority: under `9`, `1` is an enterprise, `2` an individual business, `3` a farmers'
    /// co-operative.
    pub fn kind(&self) -> char {
        char::from(self.0.as_bytes()[1])
    }

    /// The 6-digit region code of the registering office, characters 3 to 8.
    pub fn region(&self) -> &str {
        &self.0[2..8]
    }

    /// The 9-character organisation code (主体标识码), characters 9 to 17.
    pub fn body(&self) -> &str {
        &self.0[8..17]
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CreditCode {
    type Err = IdError;

    fn from_str(s: &str) -> Result<CreditCode, IdError> {
        CreditCode::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `input` with `parse` and compares the canonical text or the error.
    fn check<T: fmt::Display>(
        parse: fn(&str) -> Result<T, IdError>,
        input: &str,
        expect: Result<&str, IdError>,
    ) {
        let got = parse(input).map(|v| v.to_string());
        assert_eq!(got, expect.map(str::to_owned), "parsing {input:?}");
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn resident_ids_parse() {
        let p = ResidentId::parse;
        // The example of GB 11643-1999 itself.
        check(p, "11010519491231002X", Ok("11010519491231002X"));
        check(p, "11010519491231002x", Ok("11010519491231002X"));
        check(p, " 11010519491231002X\n", Ok("11010519491231002X"));
        check(p, "110105200002290021", Ok("110105200002290021"));
        check(p, "440303199002280017", Ok("440303199002280017"));
        check(p, "", Err(IdError::ResidentLength(0)));
        check(p, "11010519491231002", Err(IdError::ResidentLength(17)));
        check(p, "11010519491231002X1", Err(IdError::ResidentLength(19)));
        check(p, "1101051949123100XX", Err(IdError::ResidentChars));
        check(p, "1101051949123100X2", Err(IdError::ResidentChars));
        check(p, "11010519491231002Y", Err(IdError::ResidentChars));
        check(p, "11010519491231-02X", Err(IdError::ResidentChars));
        check(
            p,
            "１１０１０５１９４９１２３１００２Ｘ",
            Err(IdError::ResidentChars),
        );
        check(p, "000000194912310021", Err(IdError::Region));
        check(p, "110105194902300021", Err(IdError::BirthDate));
        check(p, "110105194913010021", Err(IdError::BirthDate));
        check(p, "110105194912000021", Err(IdError::BirthDate));
        check(p, "110105190002290021", Err(IdError::BirthDate));
        check(p, "110105189912310021", Err(IdError::BirthDate));
        check(p, "110105210001010021", Err(IdError::BirthDate));
        // The standard's second example is born in 1880, before the range Wanxiang accepts.
        check(p, "440524188001010014", Err(IdError::BirthDate));
        check(p, "110105194912310021", Err(IdError::ResidentCheck));
        check(p, "440303199002280018", Err(IdError::ResidentCheck));
    }

    #[test]
    fn resident_check_characters_of_the_standard() {
        assert_eq!(resident_check(b"11010519491231002"), b'X');
        assert_eq!(resident_check(b"44052418800101001"), b'4');
    }

    #[test]
    fn resident_id_parts_and_masked_form() {
        let id = ResidentId::parse("11010519491231002x").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.region(), "110105");
        assert_eq!(id.birth_date(), date(1949, 12, 31));
        assert!(!id.is_male());
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(id.to_string(), "11010519491231002X");
        assert_eq!(format!("{id:?}"), "ResidentId(\"110105********002X\")");
        assert_eq!("11010519491231002X".parse::<ResidentId>(), Ok(id));
        let man = ResidentId::parse("440303199002280017").unwrap();
        assert!(man.is_male());
        assert_eq!(man.masked(), "440303********0017");
    }

    #[test]
    fn resident_ids_compose_and_round_trip() {
        let cases = [
            ("110105", date(1949, 12, 31), 2, false, "11010519491231002X"),
            ("110105", date(1949, 12, 31), 3, false, "11010519491231002X"),
            ("440303", date(1990, 2, 28), 0, true, "440303199002280017"),
            ("440303", date(1990, 2, 28), 1, true, "440303199002280017"),
            ("440303", date(1990, 2, 28), 0, false, "440303199002280009"),
            ("440303", date(1990, 2, 28), 999, true, "440303199002289994"),
            (
                "440303",
                date(1990, 2, 28),
                999,
                false,
                "440303199002289986",
            ),
            ("110105", date(2000, 2, 29), 2, false, "110105200002290021"),
        ];
        for (region, birth, sequence, male, expect) in cases {
            let id = ResidentId::compose(region, birth, sequence, male).unwrap();
            assert_eq!(
                id.as_str(),
                expect,
                "composing {region} {birth} {sequence} {male}"
            );
            assert_eq!(ResidentId::parse(id.as_str()), Ok(id.clone()));
            assert_eq!(id.region(), region);
            assert_eq!(id.birth_date(), birth);
            assert_eq!(id.is_male(), male);
        }
        for sequence in 0..=999 {
            for male in [false, true] {
                let id = ResidentId::compose("440303", date(2099, 12, 31), sequence, male).unwrap();
                assert_eq!(id.is_male(), male);
                assert_eq!(ResidentId::parse(id.as_str()), Ok(id));
            }
        }
    }

    #[test]
    fn resident_compose_refuses_bad_parts() {
        let birth = date(1990, 2, 28);
        let compose = ResidentId::compose;
        assert_eq!(compose("000000", birth, 1, true), Err(IdError::Region));
        assert_eq!(compose("44030", birth, 1, true), Err(IdError::Region));
        assert_eq!(compose("4403031", birth, 1, true), Err(IdError::Region));
        assert_eq!(compose("44030a", birth, 1, true), Err(IdError::Region));
        assert_eq!(
            compose("440303", birth, 1000, true),
            Err(IdError::Sequence(1000))
        );
        let too_early = date(1899, 12, 31);
        assert_eq!(
            compose("440303", too_early, 1, true),
            Err(IdError::BirthDate)
        );
        let too_late = date(2100, 1, 1);
        assert_eq!(
            compose("440303", too_late, 1, true),
            Err(IdError::BirthDate)
        );
    }

    #[test]
    fn credit_codes_parse() {
        let p = CreditCode::parse;
        // Huawei Technologies Co., Ltd. (华为技术有限公司), Shenzhen.
        check(p, "914403001922038216", Ok("914403001922038216"));
        // Tencent Technology (Shenzhen) Co., Ltd. (腾讯科技（深圳）有限公司).
        check(p, "91440300708461136T", Ok("91440300708461136T"));
        check(p, "91440300708461136t", Ok("91440300708461136T"));
        check(p, " 91440300708461136T ", Ok("91440300708461136T"));
        // Xiaomi Technology Co., Ltd. (小米科技有限责任公司), Beijing.
        check(p, "91110108551385082Q", Ok("91110108551385082Q"));
        // Weighted sum divisible by 31: the check value 31 is written 0.
        check(p, "914403001000000020", Ok("914403001000000020"));
        check(p, "91440300100000021Y", Ok("91440300100000021Y"));
        check(p, "", Err(IdError::CreditLength(0)));
        check(p, "91440300708461136", Err(IdError::CreditLength(17)));
        check(p, "91440300708461136TT", Err(IdError::CreditLength(19)));
        check(p, "91440300708461136S", Err(IdError::CreditChar('S')));
        check(p, "9144030070846113IT", Err(IdError::CreditChar('I')));
        check(p, "9144030070846113OT", Err(IdError::CreditChar('O')));
        check(p, "9144030070846113ZT", Err(IdError::CreditChar('Z')));
        check(p, "9144030070846113VT", Err(IdError::CreditChar('V')));
        check(p, "91440300-70846113T", Err(IdError::CreditChar('-')));
        check(
            p,
            "９１４４０３００７０８４６１１３６Ｔ",
            Err(IdError::CreditChar('９')),
        );
        check(p, "9144A300708461136T", Err(IdError::Region));
        check(p, "91000000708461136T", Err(IdError::Region));
        check(p, "914403001922038217", Err(IdError::CreditCheck));
        check(p, "91440300708461136Y", Err(IdError::CreditCheck));
    }

    #[test]
    fn credit_code_parts() {
        let code = CreditCode::parse("914403001922038216").unwrap();
        assert_eq!(code.as_str(), "914403001922038216");
        assert_eq!(code.registering_authority(), '9');
        assert_eq!(code.kind(), '1');
        assert_eq!(code.region(), "440300");
        assert_eq!(code.body(), "192203821");
        assert_eq!(code.to_string(), "914403001922038216");
        assert_eq!("914403001922038216".parse::<CreditCode>(), Ok(code));
    }

    #[test]
    fn credit_codes_compose_and_round_trip() {
        let cases = [
            ('9', '1', "440300", "192203821", "914403001922038216"),
            ('9', '1', "440300", "708461136", "91440300708461136T"),
            ('9', '1', "440300", "7084611ab", "914403007084611ABH"),
            ('9', '1', "110108", "551385082", "91110108551385082Q"),
            ('9', '1', "440300", "100000002", "914403001000000020"),
        ];
        for (authority, kind, region, body, expect) in cases {
            let code = CreditCode::compose(authority, kind, region, body).unwrap();
            assert_eq!(code.as_str(), expect, "composing {region} {body}");
            assert_eq!(CreditCode::parse(code.as_str()), Ok(code.clone()));
            assert_eq!(code.registering_authority(), authority);
            assert_eq!(code.kind(), kind);
            assert_eq!(code.region(), region);
            assert_eq!(code.body(), body.to_ascii_uppercase());
        }
        let compose = CreditCode::compose;
        assert_eq!(
            compose('I', '1', "440300", "192203821"),
            Err(IdError::CreditChar('I'))
        );
        assert_eq!(
            compose('9', 'S', "440300", "192203821"),
            Err(IdError::CreditChar('S'))
        );
        assert_eq!(
            compose('9', '1', "44030", "192203821"),
            Err(IdError::Region)
        );
        assert_eq!(
            compose('9', '1', "000000", "192203821"),
            Err(IdError::Region)
        );
        assert_eq!(
            compose('9', '1', "440300", "19220382"),
            Err(IdError::CreditBody(8))
        );
        assert_eq!(
            compose('9', '1', "440300", "1922038210"),
            Err(IdError::CreditBody(10))
        );
        assert_eq!(
            compose('9', '1', "440300", "19220382O"),
            Err(IdError::CreditChar('O'))
        );
    }
}
