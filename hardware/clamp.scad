// smartbell dumbbell clamp: a two-piece split ring for bars 25-35 mm across, lined with a strip of
// rubber, with a cradle on top that holds the electronics (default size: M5StickC Plus2) under a
// 20 mm hook-and-loop strap. See mounting.md for where it goes and how to fit it.
//
//   openscad -D handle_d=30 -o clamp-30.stl clamp.scad         (both halves laid out for printing)
//   openscad -D handle_d=30 -D 'part="assembled"' -o view.stl clamp.scad

/* [Bar] */
handle_d = 30;      // bar diameter where the clamp sits, mm: 25..35 (measure it with calipers)
liner_t = 1.0;      // rubber liner thickness (bicycle inner tube is about 1 mm), mm

/* [Ring] */
wall = 4;           // ring wall, mm: 4 mm of PETG does not flex when the screws are tight
width = 30;         // ring width along the bar, mm (at least; a long cradle widens it)
gap = 2;            // gap between the halves before tightening: the liner squeezes before they meet

/* [Screws: 2x M3x12 socket head, 2x M3 nut] */
screw_len = 12;     // screw length under the head, mm
screw_d = 3.4;      // M3 clearance hole
head_d = 6.2;       // counterbore for the head (M3 socket head is 5.5 mm)
head_h = 3;         // counterbore depth: the head sits flush, nothing to catch a sleeve on
nut_af = 5.7;       // nut trap across flats (M3 nut is 5.5 mm)
nut_trap = 5;       // nut trap depth from the outer face
nut_h = 2.4;        // M3 nut thickness
ear_h = 8;          // thickness of each ear, mm
ear_rim = 3;        // plastic beyond the screw hole, mm

/* [Cradle] */
pocket_l = 55;      // along the bar: measure your device and add 1 mm (pad any gap with foam)
pocket_w = 26;      // across the bar; the defaults fit an M5StickC Plus2
pocket_h = 8;       // wall height: below the device's top so the strap presses on the device
pocket_wall = 2.4;
usb_notch = 12;     // opening in one end wall for the USB-C plug, so it charges in place
strap_w = 22;       // tunnel for a 20 mm hook-and-loop strap
strap_h = 3;

part = "print";     // print | assembled | upper | lower | section (2D) | fit_check
$fn = 96;

assert(handle_d >= 25 && handle_d <= 35, str("handle_d must be 25..35 mm, got ", handle_d));
assert(liner_t >= 0.5 && liner_t <= 2, str("liner_t must be 0.5..2 mm, got ", liner_t));
assert(gap >= liner_t / 2 && gap <= 2 * liner_t,
       "gap must be between liner_t/2 and 2*liner_t, or the halves meet before the liner grips");
// The screw tip must stay inside the lower ear even when the gap has closed completely...
assert(head_h + screw_len <= 2 * ear_h, "screw too long: its tip would stick out of the lower ear");
// ...and still bite at least 1 mm into the nut when the clamp is first assembled.
assert(head_h + screw_len - (2 * ear_h + gap - nut_trap) >= 1, "screw too short to reach the nut");
assert(ear_h - nut_trap >= 2, "less than 2 mm of plastic above the nut trap");

r_bore = handle_d / 2 + liner_t;
r_out = r_bore + wall;
cradle_w = pocket_w + 2 * pocket_wall;    // across the bar (x)
cradle_l = pocket_l + 2 * pocket_wall;    // along the bar (y)
// The screws sit just outside the ring, or further out when a wide cradle would cover their heads.
x_screw = max(r_out + head_d / 2 + 1, cradle_w / 2 + head_d / 2 + 1.5);
x_ear = x_screw + screw_d / 2 + ear_rim;  // outer end of each ear
// A cradle longer than the ring is carried on 45-degree (or steeper) flanks that must stay above
// the split: a long cradle widens the ring.
ring_w = max(width, cradle_l - 2 * r_out);
z_tunnel = r_out + 0.5;                   // strap tunnel runs across the bar above the ring's crown
z_floor = z_tunnel + strap_h + 1.5;       // cradle floor
long = cradle_l + 10;                     // longer than anything, for through-cuts along the bar


// One half with its split face on z=0, growing towards +z.
module half_ring() {
    difference() {
        union() {
            intersection() {
                rotate([90, 0, 0]) cylinder(r = r_out, h = ring_w, center = true);
                translate([-r_out, -ring_w / 2, 0]) cube([2 * r_out, ring_w, r_out]);
            }
            for (s = [-1, 1])
                translate([s > 0 ? r_bore : -(x_ear), -ring_w / 2, 0])
                    cube([x_ear - r_bore, ring_w, ear_h]);
        }
        for (s = [-1, 1])
            translate([s * x_screw, 0, -1]) cylinder(d = screw_d, h = ear_h + 2, $fn = 24);
    }
}

module cradle() {
    // The cradle overhangs the ring along the bar; the hull gives it 45-degree sides so it prints
    // without supports and is stiff where the strap pulls.
    overhang = (cradle_l - ring_w) / 2;
    hull() {
        translate([-cradle_w / 2, -cradle_l / 2, z_floor - 0.01]) cube([cradle_w, cradle_l, 0.01]);
        translate([-cradle_w / 2, -ring_w / 2, r_out - overhang]) cube([cradle_w, ring_w, 0.01]);
    }
    difference() {
        translate([-cradle_w / 2, -cradle_l / 2, z_floor - 0.01]) cube([cradle_w, cradle_l, pocket_h]);
        translate([-pocket_w / 2, -pocket_l / 2, z_floor]) cube([pocket_w, pocket_l, pocket_h + 1]);
        translate([-usb_notch / 2, -cradle_l / 2 - 1, z_floor]) cube([usb_notch, pocket_wall + 2, pocket_h + 1]);
    }
}

module upper() {
    difference() {
        union() { half_ring(); cradle(); }
        rotate([90, 0, 0]) cylinder(r = r_bore, h = long, center = true);
        for (s = [-1, 1])
            translate([s * x_screw, 0, ear_h - head_h]) cylinder(d = head_d, h = head_h + 1, $fn = 32);
        translate([-cradle_w, -strap_w / 2, z_tunnel]) cube([2 * cradle_w, strap_w, strap_h]);
    }
}

module lower() {
    difference() {
        half_ring();
        rotate([90, 0, 0]) cylinder(r = r_bore, h = long, center = true);
        for (s = [-1, 1])
            translate([s * x_screw, 0, ear_h - nut_trap])
                cylinder(d = nut_af / cos(30), h = nut_trap + 1, $fn = 6);
    }
}

module assembled() {
    translate([0, 0, gap / 2]) upper();
    translate([0, 0, -gap / 2]) mirror([0, 0, 1]) lower();
}

if (part == "print") {
    // Both halves split face down: no supports needed.
    translate([-(x_ear + 3), 0, 0]) upper();
    translate([x_ear + 3, 0, 0]) lower();
} else if (part == "assembled") {
    assembled();
} else if (part == "upper") {
    upper();
} else if (part == "lower") {
    lower();
} else if (part == "section") {
    // 2D: the assembled clamp cut across the bar through the screws, for the docs (export .svg).
    projection(cut = true) rotate([-90, 0, 0]) assembled();
} else if (part == "fit_check") {
    // Must be empty: anything here is plastic where the bar goes.
    intersection() {
        assembled();
        rotate([90, 0, 0]) cylinder(r = handle_d / 2, h = 2 * long, center = true);
    }
} else {
    assert(false, str("unknown part \"", part, "\": use print, assembled, upper, lower, section or fit_check"));
}
