//! Prints every device Conclave can use, one JSON object a line:
//! `cargo run -p conclave-devices --example list_devices`.

fn main() {
    let list = conclave_devices::list();
    for device in list
        .cameras
        .iter()
        .chain(&list.microphones)
        .chain(&list.speakers)
        .chain(&list.screens)
    {
        println!("{:?}\t{}\t{}", device.kind, device.id, device.label);
    }
}
