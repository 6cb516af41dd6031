//! How a `T` travels in a task's `void *` value, and what a C consumer sees.
//!
//! A tapir value is one pointer-sized word plus an optional destroy function that the
//! library calls exactly once, when the last reference to the task is gone. The Rust API
//! stores a `T` in that word in one of two ways, chosen by the type alone:
//!
//! - **In the bits** — the integers (`u8` … `u64`, `i8` … `i64`, `usize`, `isize`),
//!   `bool`, `char`, `f32`, `f64`, `()` and the untyped pointers `*mut c_void` and
//!   `*const c_void`. No allocation, no destroy. C reads the word as C code stores
//!   integers: unsigned integers, `bool` (0 or 1) and `char` (its code point)
//!   zero-extended, signed integers sign-extended (`(intptr_t)value`), floats as their
//!   IEEE bit pattern (`f32` in the low 32 bits), `()` as 0, pointers as themselves.
//! - **Boxed** — every other type. The word is a pointer to a heap `T` (Rust's layout;
//!   a `#[repr(C)]` type can be read from C through it) owned by the task: the destroy
//!   function drops the box once, on whichever thread releases the last reference. A C
//!   consumer may read through the pointer while it holds a reference to the task, and
//!   must never free it.
//!
//! Reading a value clones it out of the task (for the types in the bits, a copy), so a
//! task can be read any number of times by any number of holders.

use std::any::TypeId;
use std::ffi::c_void;

use crate::core::callback::DestroyFn;

#[inline(always)]
fn is<T: 'static, U: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<U>()
}

/// Converts between `T` and one of the bit types.
///
/// # Safety
/// `T` and `U` must be the same type (checked by the caller with `is`).
#[inline(always)]
unsafe fn same<T, U>(v: T) -> U {
    let v = std::mem::ManuallyDrop::new(v);
    // SAFETY: T and U are the same type, so this is a move.
    unsafe { std::mem::transmute_copy::<T, U>(&v) }
}

/// True when `T` travels in the bits (see the module docs).
#[inline(always)]
pub(crate) fn in_bits<T: 'static>() -> bool {
    is::<T, ()>()
        || is::<T, u64>()
        || is::<T, usize>()
        || is::<T, u32>()
        || is::<T, u16>()
        || is::<T, u8>()
        || is::<T, i64>()
        || is::<T, isize>()
        || is::<T, i32>()
        || is::<T, i16>()
        || is::<T, i8>()
        || is::<T, bool>()
        || is::<T, char>()
        || is::<T, f32>()
        || is::<T, f64>()
        || is::<T, *mut c_void>()
        || is::<T, *const c_void>()
}

macro_rules! bits_codec {
    ($v:ident, $T:ident; $($ty:ty => |$x:ident| $enc:expr, |$b:ident| $dec:expr;)*) => {
        /// The word for a bit type; None for a boxed one (`v` comes back).
        #[inline(always)]
        fn encode_bits<$T: 'static>($v: $T) -> Result<usize, $T> {
            $(if is::<$T, $ty>() {
                // SAFETY: T is $ty (checked).
                let $x: $ty = unsafe { same::<$T, $ty>($v) };
                return Ok($enc);
            })*
            Err($v)
        }

        /// The value of a bit type from its word; None for a boxed type.
        #[inline(always)]
        fn decode_bits<$T: 'static>(bits: usize) -> Option<$T> {
            $(if is::<$T, $ty>() {
                let $b = bits;
                let x: $ty = $dec;
                // SAFETY: T is $ty (checked).
                return Some(unsafe { same::<$ty, $T>(x) });
            })*
            None
        }
    };
}

bits_codec! { v, T;
    () => |x| { let () = x; 0 }, |_b| ();
    u64 => |x| x as usize, |b| b as u64;
    usize => |x| x, |b| b;
    u32 => |x| x as usize, |b| b as u32;
    u16 => |x| x as usize, |b| b as u16;
    u8 => |x| x as usize, |b| b as u8;
    i64 => |x| x as usize, |b| b as i64;
    isize => |x| x as usize, |b| b as isize;
    i32 => |x| x as i64 as usize, |b| b as i32;
    i16 => |x| x as i64 as usize, |b| b as i16;
    i8 => |x| x as i64 as usize, |b| b as i8;
    bool => |x| x as usize, |b| b != 0;
    char => |x| x as u32 as usize, |b| char::from_u32(b as u32).unwrap_or(char::REPLACEMENT_CHARACTER);
    f32 => |x| x.to_bits() as usize, |b| f32::from_bits(b as u32);
    f64 => |x| x.to_bits() as usize, |b| f64::from_bits(b as u64);
    *mut c_void => |x| x as usize, |b| b as *mut c_void;
    *const c_void => |x| x as usize, |b| b as *const c_void;
}

/// The destroy function of a boxed `T`: drops the box once. A panicking `Drop` is
/// contained here (a destroy function must not unwind into the library).
unsafe extern "C" fn drop_boxed<T>(p: *mut c_void) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `p` came from `Box::into_raw` in `encode::<T>`; the library calls the
        // destroy function exactly once.
        drop(unsafe { Box::from_raw(p.cast::<T>()) });
    }));
}

/// The word and destroy function that carry `v` (see the module docs).
#[inline(always)]
pub(crate) fn encode<T: 'static>(v: T) -> (usize, Option<DestroyFn>) {
    match encode_bits(v) {
        Ok(bits) => (bits, None),
        Err(v) => (
            Box::into_raw(Box::new(v)) as usize,
            Some(drop_boxed::<T> as DestroyFn),
        ),
    }
}

/// Takes back a value the library refused (its destroy was not called): a boxed value
/// is dropped here.
pub(crate) fn reclaim<T: 'static>(bits: usize, destroy: Option<DestroyFn>) {
    if destroy.is_some() && !in_bits::<T>() {
        // SAFETY: `bits` is the box `encode::<T>` made; the library refused it, so this
        // is its only owner.
        drop(unsafe { Box::from_raw(bits as *mut T) });
    }
}

/// A copy of the value of a task whose word is `bits`.
///
/// # Safety
/// `bits` must be the value word of a succeeded task that stores a `T` the way
/// `encode::<T>` does, kept alive by the caller for the duration of the call.
#[inline(always)]
pub(crate) unsafe fn decode<T: Clone + 'static>(bits: usize) -> T {
    match decode_bits::<T>(bits) {
        Some(v) => v,
        // SAFETY: forwarded: a boxed T owned by a task the caller keeps alive.
        None => unsafe { (*(bits as *const T)).clone() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round<T: Clone + PartialEq + std::fmt::Debug + 'static>(v: T) -> usize {
        let (bits, destroy) = encode(v.clone());
        // SAFETY: `bits` was just encoded from a T, and the box (if any) is still alive.
        assert_eq!(unsafe { decode::<T>(bits) }, v);
        if let Some(d) = destroy {
            // SAFETY: the destroy of the value just encoded, called once.
            unsafe { d(bits as *mut c_void) };
        }
        bits
    }

    #[test]
    fn bit_types_are_what_c_code_stores() {
        assert_eq!(round(42u64), 42);
        assert_eq!(
            round(-1i32),
            usize::MAX,
            "signed integers are sign-extended"
        );
        assert_eq!(round(-2i8) as isize, -2);
        assert_eq!(
            round(u32::MAX),
            0xFFFF_FFFF,
            "unsigned integers are zero-extended"
        );
        assert_eq!(round(true), 1);
        assert_eq!(round('é'), 0xE9);
        assert_eq!(round(1.5f64), 1.5f64.to_bits() as usize);
        assert_eq!(round(1.5f32), 1.5f32.to_bits() as usize);
        assert_eq!(round(()), 0);
        assert_eq!(round(0x1234usize as *mut c_void), 0x1234);
        assert!(in_bits::<*const c_void>() && !in_bits::<String>() && !in_bits::<[u8; 4]>());
    }

    #[test]
    fn other_types_are_boxed_and_destroyed_once() {
        let s = String::from("boxed");
        let (bits, destroy) = encode(s.clone());
        assert!(destroy.is_some());
        // SAFETY: as in `round`.
        assert_eq!(unsafe { &*(bits as *const String) }, &s);
        round(vec![1u8, 2, 3]);
        round(Some(7u64));
        reclaim::<String>(bits, destroy);
    }
}
