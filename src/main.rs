fn main() {
    std::process::exit(pushpull::cli::main_with_args(std::env::args_os()));
}
