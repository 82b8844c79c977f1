//! `pcn rm ID`: the snippet goes to the trash (restorable there), or with --permanent is
//! erased with its history.

use reqwest::Method;

use super::{snippet_path, Format};
use crate::api::Api;
use crate::error::Result;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snippet's id.
    id: String,
    /// Erase it at once with its history, instead of moving it to the trash.
    #[arg(long)]
    permanent: bool,
}

pub async fn run(api: &Api, args: Args, format: Format) -> Result<()> {
    let mut request = api.request(Method::DELETE, &snippet_path(&args.id));
    if args.permanent {
        request = request.query(&[("permanent", "true")]);
    }
    api.send(request).await?;
    if format.json {
        // The API answers 204 with no body; scripts get the id back.
        return output::line(serde_json::json!({ "deleted": args.id }));
    }
    if args.permanent {
        output::line(format!("Erased {}.", args.id))
    } else {
        output::line(format!("Moved {} to the trash.", args.id))
    }
}
