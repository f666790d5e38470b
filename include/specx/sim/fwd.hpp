// Forward declarations of the sim module (see sim.hpp).
#pragma once

namespace specx::photometry {
struct filter_curve;
}  // namespace specx::photometry

namespace specx::sim {

struct window;
using photometry::filter_curve;  // sim/photometry.hpp
struct template_basis;
struct sample_grid;
struct arc_line;
struct tabulated_curve;
struct sky_model;
struct photon_budget;
struct pixel_rect;
struct amp_layout;
struct amp_params;
struct read_noise_table;
struct cosmic_config;
struct cosmic_event;
struct ccd_frame;
struct readout_options;
struct card;
struct target_mix;
struct exposure_config;
struct sim_inputs;
struct fiber_truth;
struct exposure_truth;
struct simulated_exposure;

}  // namespace specx::sim
